//! Writers for well-formed and deliberately malformed input files, shared by
//! `tests/bad_input_campaign.rs` and `tests/io_hardening.rs`. Nothing here uses the library's
//! readers: every byte is laid out by hand, so a file can lie in exactly one place.

#![allow(dead_code)]

use std::io::Write;

/// An npy (version 1.0) file from a header dict text and raw data bytes.
pub fn npy_raw(dict: &str, data: &[u8]) -> Vec<u8> {
    let mut header = dict.to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

pub fn shape_text(shape: &[usize]) -> String {
    match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

pub fn npy_dict(descr: &str, shape: &[usize]) -> String {
    format!(
        "{{'descr': '{descr}', 'fortran_order': False, 'shape': {}, }}",
        shape_text(shape)
    )
}

pub fn npy_f64(shape: &[usize], values: &[f64]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy_raw(&npy_dict("<f8", shape), &data)
}

pub fn npy_f32(shape: &[usize], values: &[f32]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy_raw(&npy_dict("<f4", shape), &data)
}

pub fn npy_i64(shape: &[usize], values: &[i64]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    npy_raw(&npy_dict("<i8", shape), &data)
}

pub fn npy_bool(shape: &[usize], values: &[bool]) -> Vec<u8> {
    let data: Vec<u8> = values.iter().map(|&b| u8::from(b)).collect();
    npy_raw(&npy_dict("|b1", shape), &data)
}

/// One zip member as it will be written: every field that can lie is explicit.
#[derive(Clone, Debug)]
pub struct ZipMember {
    pub name: String,
    /// 0 stored, 8 deflate, anything else is written as given.
    pub method: u16,
    /// The bytes written after the local header (already compressed for deflate).
    pub payload: Vec<u8>,
    pub crc: u32,
    pub compressed_size: u32,
    pub size: u32,
}

pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

pub fn deflate(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

impl ZipMember {
    /// An honest stored member.
    pub fn stored(name: &str, content: &[u8]) -> Self {
        ZipMember {
            name: name.to_string(),
            method: 0,
            payload: content.to_vec(),
            crc: crc32(content),
            compressed_size: content.len() as u32,
            size: content.len() as u32,
        }
    }

    /// An honest deflated member.
    pub fn deflated(name: &str, content: &[u8]) -> Self {
        let payload = deflate(content);
        ZipMember {
            name: name.to_string(),
            method: 8,
            compressed_size: payload.len() as u32,
            payload,
            crc: crc32(content),
            size: content.len() as u32,
        }
    }
}

/// A zip archive laid out by hand (local headers, data, central directory, end record).
pub fn zip(members: &[ZipMember]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for m in members {
        let offset = out.len() as u32;
        let name = m.name.as_bytes();
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes()); // version needed
        out.extend_from_slice(&0u16.to_le_bytes()); // flags
        out.extend_from_slice(&m.method.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // time
        out.extend_from_slice(&0x21u16.to_le_bytes()); // date
        out.extend_from_slice(&m.crc.to_le_bytes());
        out.extend_from_slice(&m.compressed_size.to_le_bytes());
        out.extend_from_slice(&m.size.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes()); // extra
        out.extend_from_slice(name);
        out.extend_from_slice(&m.payload);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // made by
        central.extend_from_slice(&20u16.to_le_bytes()); // needed
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&m.method.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&0x21u16.to_le_bytes());
        central.extend_from_slice(&m.crc.to_le_bytes());
        central.extend_from_slice(&m.compressed_size.to_le_bytes());
        central.extend_from_slice(&m.size.to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes()); // extra
        central.extend_from_slice(&0u16.to_le_bytes()); // comment
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attrs
        central.extend_from_slice(&0u32.to_le_bytes()); // external attrs
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(members.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

/// An npz of (array name, npy bytes), stored or deflated.
pub fn npz(arrays: &[(&str, Vec<u8>)], deflated: bool) -> Vec<u8> {
    let members: Vec<ZipMember> = arrays
        .iter()
        .map(|(name, bytes)| {
            let name = format!("{name}.npy");
            if deflated {
                ZipMember::deflated(&name, bytes)
            } else {
                ZipMember::stored(&name, bytes)
            }
        })
        .collect();
    zip(&members)
}

/// A safetensors file from a raw JSON header and data bytes.
pub fn safetensors_raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// An honest f32 safetensors file of the given (name, shape, values), laid out in order.
pub fn safetensors_f32(tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let mut entries = Vec::new();
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        let start = data.len();
        data.extend(values.iter().flat_map(|v| v.to_le_bytes()));
        entries.push(format!(
            "\"{name}\":{{\"dtype\":\"F32\",\"shape\":[{}],\"data_offsets\":[{start},{}]}}",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(","),
            data.len()
        ));
    }
    safetensors_raw(&format!("{{{}}}", entries.join(",")), &data)
}

/// Deterministic pseudo-random values in [0, 1) (a 64-bit LCG; no dependency on `rand`).
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: u64) -> u64 {
        (self.next_f64() * n as f64) as u64
    }
}
