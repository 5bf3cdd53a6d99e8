//! An RGB image encoded as PNG, as a TensorBoard image summary carries it.

use super::LogError;

/// A PNG-encoded 8-bit RGB image and its size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The PNG file's bytes.
    pub png: Vec<u8>,
}

impl Image {
    /// Encodes `pixels` (row-major, top row first, 3 bytes `[r, g, b]` per pixel) as a
    /// `width × height` PNG. `what` names the image in the error (a wrong pixel count, or the
    /// encoder's failure).
    pub fn rgb(width: u32, height: u32, pixels: &[u8], what: &str) -> Result<Self, LogError> {
        let fail = |message: String| LogError::Image { what: what.to_owned(), message };
        let expected = width as usize * height as usize * 3;
        if pixels.len() != expected {
            return Err(fail(format!("{} bytes of pixels for {width}×{height} RGB ({expected})", pixels.len())));
        }
        let mut png = Vec::new();
        let mut encoder = png::Encoder::new(&mut png, width, height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let encode = |encoder: png::Encoder<'_, &mut Vec<u8>>| -> Result<(), png::EncodingError> {
            let mut writer = encoder.write_header()?;
            writer.write_image_data(pixels)?;
            writer.finish()
        };
        encode(encoder).map_err(|e| fail(e.to_string()))?;
        Ok(Self { width, height, png })
    }
}

/// Decodes a PNG (tests): `(width, height, colour type, pixels)`.
#[cfg(test)]
pub(super) fn decode(png: &[u8]) -> (u32, u32, png::ColorType, Vec<u8>) {
    let mut reader = png::Decoder::new(png).read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(info.buffer_size());
    (info.width, info.height, info.color_type, pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_pixels_round_trip_through_png() {
        let pixels: Vec<u8> = (0..2 * 3 * 3).map(|i| (i * 13) as u8).collect();
        let image = Image::rgb(2, 3, &pixels, "test").unwrap();
        assert_eq!((image.width, image.height), (2, 3));
        assert_eq!(image.png[..8], *b"\x89PNG\r\n\x1a\n");
        assert_eq!(decode(&image.png), (2, 3, png::ColorType::Rgb, pixels));
    }

    #[test]
    fn a_wrong_pixel_count_is_an_error() {
        let err = Image::rgb(2, 2, &[0; 11], "val/x").unwrap_err();
        assert!(matches!(err, LogError::Image { .. }), "{err}");
        assert!(err.to_string().contains("val/x"), "{err}");
    }
}
