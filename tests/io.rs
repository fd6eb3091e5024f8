//! The file readers on files written byte by byte here: every `.npy` dtype
//! in both byte orders and both memory orders, `.npz` stored and deflated,
//! `.safetensors`, CSV with and without a header, and malformed files, which
//! must give an error naming the file (never a panic).

mod common;

use infoplane::io::{self, load, Array};
use infoplane::Error;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The test matrix: 3 rows × 2 columns, C order.
const M: [[f64; 2]; 3] = [[1.0, -2.0], [3.0, 4.0], [-5.0, 6.0]];

/// The `.npy` header alone (the data follows).
fn header(descr: &str, fortran: bool, shape: &str) -> Vec<u8> {
    common::npy_bytes(descr, shape, fortran, &[])
}

/// The values of `M` in the given memory order.
fn ordered(fortran: bool) -> Vec<f64> {
    if fortran {
        (0..2).flat_map(|c| (0..3).map(move |r| M[r][c])).collect()
    } else {
        M.iter().flatten().copied().collect()
    }
}

/// Encodes one value of a NumPy dtype code (`f4`, `i2`, …) in the given byte order.
fn encode(code: &str, v: f64, big: bool) -> Vec<u8> {
    macro_rules! e {
        ($x:expr) => {
            if big {
                $x.to_be_bytes().to_vec()
            } else {
                $x.to_le_bytes().to_vec()
            }
        };
    }
    match code {
        "f2" => e!(half::f16::from_f64(v).to_bits()),
        "f4" => e!(v as f32),
        "f8" => e!(v),
        "i1" => e!(v as i8),
        "i2" => e!(v as i16),
        "i4" => e!(v as i32),
        "i8" => e!(v as i64),
        "u1" => e!(v.abs() as u8),
        "u2" => e!(v.abs() as u16),
        "u4" => e!(v.abs() as u32),
        "u8" => e!(v.abs() as u64),
        "b1" => vec![u8::from(v > 0.0)],
        other => panic!("test has no encoder for {other}"),
    }
}

fn expected(code: &str) -> Vec<f32> {
    M.iter()
        .flatten()
        .map(|&v| match code {
            c if c.starts_with('u') => v.abs() as f32,
            "b1" => f32::from(u8::from(v > 0.0)),
            _ => v as f32,
        })
        .collect()
}

fn npy_bytes(code: &str, big: bool, fortran: bool) -> Vec<u8> {
    let order = if code == "b1" || code.ends_with('1') {
        '|'
    } else if big {
        '>'
    } else {
        '<'
    };
    let mut out = header(&format!("{order}{code}"), fortran, "(3, 2)");
    for v in ordered(fortran) {
        out.extend(encode(code, v, big));
    }
    out
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn spec(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

const CODES: [&str; 12] = [
    "f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1",
];

#[test]
fn npy_every_dtype_byte_order_and_memory_order() {
    let dir = tempfile::tempdir().unwrap();
    for code in CODES {
        for big in [false, true] {
            for fortran in [false, true] {
                let name = format!("{code}_{big}_{fortran}.npy");
                let p = write(dir.path(), &name, &npy_bytes(code, big, fortran));
                let a = load(&spec(&p)).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(a.shape, vec![3, 2], "{name}");
                assert_eq!(a.data, expected(code), "{name}");
                assert_eq!(a.discrete, !code.starts_with('f'), "{name}");
                let ds = a.into_dataset().unwrap();
                assert_eq!((ds.n(), ds.d()), (3, 2));
            }
        }
    }
}

#[test]
fn npy_shapes_1d_3d_and_rejected_0d() {
    let dir = tempfile::tempdir().unwrap();
    let mut one = header("<f4", false, "(4,)");
    for v in [1.0f32, 2.0, 3.0, 4.0] {
        one.extend(v.to_le_bytes());
    }
    let a = load(&spec(&write(dir.path(), "one.npy", &one))).unwrap();
    assert_eq!((a.n(), a.d()), (4, 1));

    // 2 × 2 × 3 in Fortran order flattens to 2 × 6 in C order.
    let mut three = header("<f8", true, "(2, 2, 3)");
    let c_value = |i: usize, j: usize, k: usize| (i * 6 + j * 3 + k) as f64;
    for k in 0..3 {
        for j in 0..2 {
            for i in 0..2 {
                three.extend(c_value(i, j, k).to_le_bytes());
            }
        }
    }
    let a = load(&spec(&write(dir.path(), "three.npy", &three))).unwrap();
    assert_eq!((a.n(), a.d()), (2, 6));
    assert_eq!(a.data, (0..12).map(|v| v as f32).collect::<Vec<_>>());

    let mut zero = header("<f4", false, "()");
    zero.extend(1.0f32.to_le_bytes());
    let p = write(dir.path(), "zero.npy", &zero);
    let e = load(&spec(&p)).unwrap_err();
    assert!(
        matches!(e, Error::Format { .. }) && e.to_string().contains("zero.npy"),
        "{e}"
    );
    assert!(e.to_string().contains("0-D"), "{e}");
}

#[test]
fn malformed_npy_files_give_errors_that_name_them() {
    let dir = tempfile::tempdir().unwrap();
    let good = npy_bytes("f4", false, false);
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.npy", vec![], "magic"),
        ("magic.npy", b"NOTNUMPY\x01\x00\x10\x00".to_vec(), "magic"),
        ("truncated.npy", good[..good.len() - 3].to_vec(), "bytes"),
        ("header.npy", good[..20].to_vec(), "header"),
        ("complex.npy", header("<c8", false, "(3, 2)"), "dtype"),
        ("object.npy", header("|O", false, "(3, 2)"), "dtype"),
        (
            "huge.npy",
            header("<f8", false, "(99999999999, 99999999999)"),
            "large",
        ),
        ("empty_rows.npy", header("<f4", false, "(0, 3)"), "empty"),
    ];
    let mut nan = header("<f4", false, "(2,)");
    nan.extend(1.0f32.to_le_bytes());
    nan.extend(f32::NAN.to_le_bytes());
    cases.push(("nan.npy", nan, "finite"));
    let mut big_int = header("<i8", false, "(2,)");
    big_int.extend(1i64.to_le_bytes());
    big_int.extend((1i64 << 40).to_le_bytes());
    cases.push(("bigint.npy", big_int, "2^24"));
    for (name, bytes, needle) in cases {
        let p = write(dir.path(), name, &bytes);
        let res = load(&spec(&p)).and_then(Array::into_dataset);
        let e = res.expect_err(name);
        let msg = e.to_string();
        assert!(e.is_input_error(), "{name}: {msg}");
        assert!(msg.contains(needle), "{name}: `{msg}` lacks `{needle}`");
        if !name.starts_with("nan") {
            assert!(msg.contains(name), "{name}: `{msg}` does not name the file");
        }
    }
    let missing = load(&spec(&dir.path().join("missing.npy"))).unwrap_err();
    assert!(matches!(missing, Error::Io { .. }) && missing.to_string().contains("missing.npy"));
    let unknown = load(&spec(&write(dir.path(), "a.bin", b"x"))).unwrap_err();
    assert!(unknown.to_string().contains("unknown file type"));
}

#[test]
fn fuzzed_npy_prefixes_and_flips_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let good = npy_bytes("i2", true, true);
    for cut in 0..good.len() {
        let p = write(dir.path(), "cut.npy", &good[..cut]);
        let _ = load(&spec(&p));
    }
    // Flip every byte of the header once: parsing must fail cleanly or succeed.
    let header_end = good.len() - 12;
    for i in 0..header_end {
        let mut b = good.clone();
        b[i] ^= 0x5a;
        let p = write(dir.path(), "flip.npy", &b);
        let _ = load(&spec(&p));
    }
}

fn npz(dir: &Path, name: &str, method: zip::CompressionMethod) -> PathBuf {
    let p = dir.join(name);
    let f = std::fs::File::create(&p).unwrap();
    let mut z = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default().compression_method(method);
    z.start_file("acts.npy", opts).unwrap();
    z.write_all(&npy_bytes("f4", false, true)).unwrap();
    z.start_file("labels.npy", opts).unwrap();
    z.write_all(&npy_bytes("u1", false, false)).unwrap();
    z.finish().unwrap();
    p
}

#[test]
fn npz_stored_and_deflated() {
    let dir = tempfile::tempdir().unwrap();
    for (name, method) in [
        ("stored.npz", zip::CompressionMethod::Stored),
        ("deflated.npz", zip::CompressionMethod::Deflated),
    ] {
        let p = npz(dir.path(), name, method);
        let a = load(&format!("{}:acts", p.display())).unwrap();
        assert_eq!(a.data, expected("f4"));
        assert!(!a.discrete);
        assert!(a.name.ends_with(":acts"));
        let l = load(&format!("{}:labels", p.display())).unwrap();
        assert_eq!(l.data, expected("u1"));
        assert!(l.discrete);
        assert_eq!(io::list_npz(&p).unwrap(), ["acts", "labels"]);
        let e = load(&spec(&p)).unwrap_err().to_string();
        assert!(e.contains("acts, labels") && e.contains(name), "{e}");
        let e = load(&format!("{}:nope", p.display()))
            .unwrap_err()
            .to_string();
        assert!(e.contains(":nope") && e.contains("acts, labels"), "{e}");
    }
    let bad = write(dir.path(), "bad.npz", b"PK\x03\x04 this is not a zip");
    let e = load(&format!("{}:acts", bad.display())).unwrap_err();
    assert!(
        e.is_input_error() && e.to_string().contains("bad.npz"),
        "{e}"
    );
}

#[test]
fn safetensors_dtypes_and_names() {
    use safetensors::tensor::{Dtype, TensorView};
    let dir = tempfile::tempdir().unwrap();
    let f32_bytes: Vec<u8> = expected("f4")
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let f16_bytes: Vec<u8> = expected("f2")
        .iter()
        .flat_map(|&v| half::f16::from_f32(v).to_bits().to_le_bytes())
        .collect();
    let bf16_bytes: Vec<u8> = expected("f2")
        .iter()
        .flat_map(|&v| half::bf16::from_f32(v).to_bits().to_le_bytes())
        .collect();
    let i64_bytes: Vec<u8> = expected("i8")
        .iter()
        .flat_map(|&v| (v as i64).to_le_bytes())
        .collect();
    let bool_bytes: Vec<u8> = expected("b1").iter().map(|&v| v as u8).collect();
    let tensors = vec![
        (
            "a_f32",
            TensorView::new(Dtype::F32, vec![3, 2], &f32_bytes).unwrap(),
        ),
        (
            "b_f16",
            TensorView::new(Dtype::F16, vec![3, 2], &f16_bytes).unwrap(),
        ),
        (
            "c_bf16",
            TensorView::new(Dtype::BF16, vec![3, 2], &bf16_bytes).unwrap(),
        ),
        (
            "d_i64",
            TensorView::new(Dtype::I64, vec![3, 2], &i64_bytes).unwrap(),
        ),
        (
            "e_bool",
            TensorView::new(Dtype::BOOL, vec![6], &bool_bytes).unwrap(),
        ),
    ];
    let bytes = safetensors::serialize(tensors, &None).unwrap();
    let p = write(dir.path(), "run.safetensors", &bytes);
    for (name, code, discrete) in [
        ("a_f32", "f4", false),
        ("b_f16", "f2", false),
        ("c_bf16", "f2", false),
        ("d_i64", "i8", true),
    ] {
        let a = load(&format!("{}:{name}", p.display())).unwrap();
        assert_eq!(a.data, expected(code), "{name}");
        assert_eq!(a.discrete, discrete, "{name}");
    }
    let b = load(&format!("{}:e_bool", p.display())).unwrap();
    assert_eq!((b.n(), b.d()), (6, 1));
    assert_eq!(io::list_safetensors(&p).unwrap().len(), 5);
    let e = load(&format!("{}:zzz", p.display()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("run.safetensors:zzz"), "{e}");
    let bad = write(dir.path(), "bad.safetensors", &bytes[..bytes.len() / 2]);
    let e = load(&format!("{}:a_f32", bad.display())).unwrap_err();
    assert!(
        e.is_input_error() && e.to_string().contains("bad.safetensors"),
        "{e}"
    );
}

#[test]
fn csv_with_and_without_header() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "plain.csv", b"1.0,-2\n3,4.5\n\n-5,6e0\n");
    let a = load(&spec(&p)).unwrap();
    assert_eq!(a.shape, vec![3, 2]);
    assert_eq!(a.data, vec![1.0, -2.0, 3.0, 4.5, -5.0, 6.0]);
    assert!(!a.discrete);

    let p = write(
        dir.path(),
        "head.csv",
        b"a,label,b\r\n0.5,1,2\r\n0.25,0,3\r\n",
    );
    let a = load(&spec(&p)).unwrap();
    assert_eq!(a.shape, vec![2, 3]);
    let l = load(&format!("{}:label", p.display())).unwrap();
    assert_eq!(l.shape, vec![2]);
    assert_eq!(l.data, vec![1.0, 0.0]);
    assert!(l.discrete);
    let ab = load(&format!("{}:a,b", p.display())).unwrap();
    assert_eq!(ab.data, vec![0.5, 2.0, 0.25, 3.0]);

    for (name, text, needle) in [
        ("ragged.csv", "1,2\n3\n", "line 2"),
        ("word.csv", "1,2\n3,x\n", "`x`"),
        ("inf.csv", "1,2\n3,inf\n", "not finite"),
        ("empty.csv", "", "no data"),
        ("onlyheader.csv", "a,b\n", "no data"),
    ] {
        let p = write(dir.path(), name, text.as_bytes());
        let e = load(&spec(&p)).unwrap_err().to_string();
        assert!(e.contains(name) && e.contains(needle), "{name}: {e}");
    }
    let e = load(&format!("{}:zz", p.display()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("zz"), "{e}");
}

/// Float64 files keep their precision through the cast to f32 (#17 item 3):
/// 1e7 + x is stored as x − mean in every reader (C and Fortran order,
/// either byte order, npy, npz, safetensors, CSV text), the map rebuilds the
/// file's values, and data f32 holds as it is stays untouched.
#[test]
fn float64_keeps_its_precision_in_every_reader() {
    use safetensors::tensor::{Dtype, TensorView};
    let dir = tempfile::tempdir().unwrap();
    let (n, d) = (50usize, 2usize);
    // C order values: column 0 near 1e7, column 1 near −3e6.
    let value = |i: usize, c: usize| {
        let x = ((i * 37 + c * 11) % 97) as f64 / 97.0 - 0.5;
        if c == 0 {
            1e7 + x
        } else {
            -3e6 + 2.0 * x
        }
    };
    let c_order: Vec<f64> = (0..n)
        .flat_map(|i| (0..d).map(move |c| value(i, c)))
        .collect();
    let f_order: Vec<f64> = (0..d)
        .flat_map(|c| (0..n).map(move |i| value(i, c)))
        .collect();
    let check = |a: &Array, what: &str| {
        assert_eq!((a.n(), a.d()), (n, d), "{what}");
        let ds = a.to_dataset().unwrap();
        assert!(
            (ds.map().origin()[0] - 1e7).abs() < 1.0,
            "{what}: {:?}",
            ds.map()
        );
        assert!(
            (ds.map().origin()[1] + 3e6).abs() < 1.0,
            "{what}: {:?}",
            ds.map()
        );
        for i in 0..n {
            // f32 keeps 24 bits of each centred value (|x| ≤ 1): an error
            // of at most 2^-24 (plus f64 round-off of 1e7, 2e-9), where a
            // plain cast to f32 keeps nothing below 1.
            for c in 0..d {
                let s = ds.source_value(i, c);
                assert!((s - value(i, c)).abs() <= 1e-7, "{what} row {i}: {s}");
            }
        }
        assert!(
            a.notes.iter().any(|m| m.contains("centred")),
            "{what}: {:?}",
            a.notes
        );
    };
    for (fortran, big) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut b = header(
            if big { ">f8" } else { "<f8" },
            fortran,
            &format!("({n}, {d})"),
        );
        for v in if fortran { &f_order } else { &c_order } {
            b.extend(if big {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            });
        }
        let p = write(dir.path(), &format!("x_{fortran}_{big}.npy"), &b);
        check(
            &load(&spec(&p)).unwrap(),
            &format!("npy fortran={fortran} big={big}"),
        );
        if !fortran && !big {
            // The same member inside an archive.
            let z = dir.path().join("x.npz");
            let mut w = zip::ZipWriter::new(std::fs::File::create(&z).unwrap());
            w.start_file("x.npy", zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(&b).unwrap();
            w.finish().unwrap();
            check(&load(&format!("{}:x", z.display())).unwrap(), "npz");
        }
    }
    let raw: Vec<u8> = c_order.iter().flat_map(|v| v.to_le_bytes()).collect();
    let st = safetensors::serialize(
        vec![("x", TensorView::new(Dtype::F64, vec![n, d], &raw).unwrap())],
        &None,
    )
    .unwrap();
    let p = write(dir.path(), "x.safetensors", &st);
    check(&load(&spec(&p)).unwrap(), "safetensors");
    let text: String = (0..n)
        .map(|i| format!("{:.17e},{:.17e}\n", value(i, 0), value(i, 1)))
        .collect();
    let p = write(dir.path(), "x.csv", text.as_bytes());
    check(&load(&spec(&p)).unwrap(), "csv");
    // Far below f32's range: one power of two for the array.
    let mut b = header("<f8", false, "(4,)");
    for v in [1e-300, -2e-300, 0.5e-300, 3e-300] {
        b.extend(f64::to_le_bytes(v));
    }
    let a = load(&spec(&write(dir.path(), "tiny.npy", &b))).unwrap();
    assert!(a.map.exponent() < -900);
    let ds = a.to_dataset().unwrap();
    for (i, v) in [1e-300, -2e-300, 0.5e-300, 3e-300].iter().enumerate() {
        assert!((ds.source_value(i, 0) - v).abs() <= 2f64.powi(-24) * v.abs());
    }
    // Values f32 holds exactly are stored as they are, with no note.
    let mut b = header("<f8", false, "(3, 2)");
    for v in ordered(false) {
        b.extend(v.to_le_bytes());
    }
    let a = load(&spec(&write(dir.path(), "plain.npy", &b))).unwrap();
    assert_eq!(a.data, expected("f8"));
    assert!(a.map.is_identity() && a.notes.is_empty());
}
