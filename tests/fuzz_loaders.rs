//! Property tests standing in for `cargo fuzz` (which needs a nightly
//! toolchain): every loader (`.npy`, `.npz`, `.safetensors`, CSV) on arbitrary
//! bytes and on mutations of a valid file (truncation, byte flips, inserted
//! bytes) returns either an array whose values are all finite and whose shape
//! matches its data, or an input error that names the file. Never a panic.
//!
//! Case counts: `PROPTEST_CASES` (default 64 here so the normal test run stays
//! within seconds); `fuzz/run.sh` raises it.

mod common;

use infoplane::io;
use proptest::prelude::*;
use std::io::Write;

fn npy(descr: &str, shape: &str, payload: &[u8]) -> Vec<u8> {
    common::npy_bytes(descr, shape, false, payload)
}

fn seed_npy() -> Vec<u8> {
    let v: Vec<u8> = (0..24)
        .flat_map(|i| (i as f32 * 0.5 - 3.0).to_le_bytes())
        .collect();
    npy("<f4", "(6, 4)", &v)
}

fn seed_npz() -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zw = zip::ZipWriter::new(&mut buf);
        for (name, method) in [
            ("a", zip::CompressionMethod::Stored),
            ("b", zip::CompressionMethod::Deflated),
        ] {
            zw.start_file(
                format!("{name}.npy"),
                zip::write::SimpleFileOptions::default().compression_method(method),
            )
            .unwrap();
            zw.write_all(&seed_npy()).unwrap();
        }
        zw.finish().unwrap();
    }
    buf.into_inner()
}

fn seed_safetensors() -> Vec<u8> {
    use safetensors::tensor::{Dtype, TensorView};
    let b: Vec<u8> = (0..12).flat_map(|i| (i as f32).to_le_bytes()).collect();
    safetensors::serialize(
        vec![("a", TensorView::new(Dtype::F32, vec![3, 4], &b).unwrap())],
        &None,
    )
    .unwrap()
}

fn seed_csv() -> Vec<u8> {
    b"a,b,c\n1,2,3\n4.5,-6,7e3\n8,9,10\n".to_vec()
}

/// A mutation of `seed`: cut at `cut`, then overwrite / insert the given bytes.
fn mutate(seed: &[u8], cut: usize, edits: &[(usize, u8, bool)]) -> Vec<u8> {
    let mut b = seed[..cut.min(seed.len())].to_vec();
    if cut > seed.len() {
        b = seed.to_vec();
    }
    for &(pos, byte, insert) in edits {
        if b.is_empty() {
            b.push(byte);
            continue;
        }
        let p = pos % (b.len() + usize::from(insert));
        if insert {
            b.insert(p, byte);
        } else {
            b[p] = byte;
        }
    }
    b
}

/// Loads `bytes` as `name` (with `spec_suffix`) and checks the contract.
fn check(name: &str, spec_suffix: &str, bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, bytes).unwrap();
    let spec = format!("{}{spec_suffix}", p.display());
    match io::load(&spec) {
        Ok(a) => {
            assert_eq!(a.n() * a.d(), a.data.len(), "{name}: shape vs data");
            if let Ok(ds) = a.into_dataset() {
                assert!(ds.values().iter().all(|v| v.is_finite()));
            }
        }
        Err(e) => {
            assert!(e.is_input_error(), "{name}: {e:?} should be an input error");
            assert!(
                e.to_string().contains(name),
                "{name}: message {e} names the file"
            );
        }
    }
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, bool)>> {
    prop::collection::vec((any::<usize>(), any::<u8>(), any::<bool>()), 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64)))]

    #[test]
    fn npy_random_bytes(b in prop::collection::vec(any::<u8>(), 0..300)) {
        check("r.npy", "", &b);
    }

    #[test]
    fn npy_mutations(cut in 0usize..400, e in edits()) {
        check("m.npy", "", &mutate(&seed_npy(), cut, &e));
    }

    #[test]
    fn npy_header_fields(descr in "[<>|=]?[fiubcOUMS][0-9]{0,2}", dims in prop::collection::vec(0usize..5, 0..4)) {
        let shape = match dims.len() {
            1 => format!("({},)", dims[0]),
            _ => format!("({})", dims.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
        };
        check("h.npy", "", &npy(&descr, &shape, &[0u8; 96]));
    }

    #[test]
    fn npz_mutations(cut in 0usize..2000, e in edits(), member in prop::sample::select(vec!["", ":a", ":b", ":zz"])) {
        check("m.npz", member, &mutate(&seed_npz(), cut, &e));
    }

    #[test]
    fn safetensors_mutations(cut in 0usize..300, e in edits()) {
        check("m.safetensors", ":a", &mutate(&seed_safetensors(), cut, &e));
    }

    #[test]
    fn safetensors_random_headers(len in any::<u64>(), body in "[ -~]{0,80}") {
        let mut b = len.to_le_bytes().to_vec();
        b.extend_from_slice(body.as_bytes());
        check("h.safetensors", "", &b);
    }

    #[test]
    fn csv_mutations(cut in 0usize..60, e in edits(), cols in prop::sample::select(vec!["", ":a", ":a,c", ":x"])) {
        check("m.csv", cols, &mutate(&seed_csv(), cut, &e));
    }

    #[test]
    fn csv_random_text(t in "[0-9a-z,;.\\-+e \t\r\n\"#]{0,120}") {
        check("t.csv", "", t.as_bytes());
    }
}
