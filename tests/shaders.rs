//! Every shader, as the host compiles it (common.wgsl + ref_scan.wgsl + the
//! kernel's file), parsed and validated by naga without a GPU, and its
//! parameter structs, constants and bindings checked against the Rust side
//! (STYLE.md rule 3; the vello approach of validating shaders at test time).

use infoplane::kernels::gpu::{
    shader_source, BinParams, PairParams, NORM_CHEBYSHEV, NORM_SQ_BLOCKS, NORM_SQ_EUCLIDEAN,
    SCAN_OVERRIDES, SHADERS, SHADER_CONSTANTS,
};
use infoplane::kernels::plan::{KernelKind, ScanShape, GPU_MAX_QUERIES_PER_INVOCATION};
use std::mem::{offset_of, size_of};

fn module(kernel: KernelKind) -> (naga::Module, naga::valid::ModuleInfo) {
    let src = shader_source(kernel);
    let module = naga::front::wgsl::parse_str(&src)
        .unwrap_or_else(|e| panic!("{}: {}", kernel.name(), e.emit_to_string(&src)));
    let info = naga::valid::Validator::new(
        naga::valid::ValidationFlags::all(),
        naga::valid::Capabilities::default(),
    )
    .validate(&module)
    .unwrap_or_else(|e| panic!("{}: {}", kernel.name(), e.emit_to_string(&src)));
    (module, info)
}

/// Size and `(member, offset)` list of the WGSL struct `name`.
fn struct_layout(module: &naga::Module, name: &str) -> (u32, Vec<(String, u32)>) {
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).expect("layout");
    let (handle, ty) = module
        .types
        .iter()
        .find(|(_, t)| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("struct {name} not in the shader"));
    let naga::TypeInner::Struct { members, span } = &ty.inner else {
        panic!("{name} is not a struct");
    };
    assert_eq!(layouter[handle].size, *span);
    let members = members
        .iter()
        .map(|m| (m.name.clone().unwrap_or_default(), m.offset))
        .collect();
    (*span, members)
}

#[test]
fn every_shader_parses_and_validates() {
    for s in SHADERS {
        let (module, _) = module(s.kernel);
        assert!(
            module.entry_points.iter().any(|e| e.name == "main"),
            "{}: no `main` entry point",
            s.kernel.name()
        );
    }
}

#[test]
fn pair_params_match_the_rust_struct() {
    let rust: Vec<(&str, usize)> = vec![
        ("n_q", offset_of!(PairParams, n_q)),
        ("n_r", offset_of!(PairParams, n_r)),
        ("vec4s", offset_of!(PairParams, vec4s)),
        ("q_offset", offset_of!(PairParams, q_offset)),
        ("r_offset", offset_of!(PairParams, r_offset)),
        ("k", offset_of!(PairParams, k)),
        ("norm", offset_of!(PairParams, norm)),
        ("n_blocks", offset_of!(PairParams, n_blocks)),
        ("exclude_self", offset_of!(PairParams, exclude_self)),
        ("boundary", offset_of!(PairParams, boundary)),
        ("scale", offset_of!(PairParams, scale)),
        ("groups_x", offset_of!(PairParams, groups_x)),
        ("block_starts", offset_of!(PairParams, block_starts)),
        ("slice_rows", offset_of!(PairParams, slice_rows)),
        ("slices", offset_of!(PairParams, slices)),
        ("first_block", offset_of!(PairParams, first_block)),
    ];
    for kernel in PAIR_KERNELS {
        let (module, _) = module(kernel);
        let (size, members) = struct_layout(&module, "PairParams");
        assert_eq!(size as usize, size_of::<PairParams>(), "{kernel:?}");
        let wgsl: Vec<(&str, usize)> = members
            .iter()
            .map(|(n, o)| (n.as_str(), *o as usize))
            .collect();
        assert_eq!(wgsl, rust, "{kernel:?}: PairParams members and offsets");
    }
}

const PAIR_KERNELS: [KernelKind; 4] = [
    KernelKind::Knn,
    KernelKind::RadiusCount,
    KernelKind::KdeLse,
    KernelKind::Pairwise,
];

/// Every specialisation the host can ask for (each norm; every register-path
/// width and query count; the general path) has its overrides applied and
/// the result validated, as wgpu does when it builds the pipeline.
#[test]
fn every_specialisation_validates() {
    let mut shapes: Vec<ScanShape> = (1..=200)
        .map(|dim| ScanShape::new(KernelKind::Knn, dim, GPU_MAX_QUERIES_PER_INVOCATION))
        .collect();
    shapes.extend(
        (1..=GPU_MAX_QUERIES_PER_INVOCATION).map(|queries| ScanShape {
            queries,
            register_vec4s: 0,
        }),
    );
    shapes.sort_by_key(|s| (s.queries, s.register_vec4s));
    shapes.dedup();
    assert!(shapes.len() > 10, "{shapes:?}");
    for kernel in PAIR_KERNELS {
        let (module, info) = module(kernel);
        let names: Vec<_> = module
            .overrides
            .iter()
            .filter_map(|(_, o)| o.name.clone())
            .collect();
        assert_eq!(names, SCAN_OVERRIDES, "{kernel:?}: override constants");
        for norm in [NORM_CHEBYSHEV, NORM_SQ_EUCLIDEAN, NORM_SQ_BLOCKS] {
            for s in &shapes {
                let values = [norm, s.queries, s.register_vec4s];
                let constants: naga::back::PipelineConstants = SCAN_OVERRIDES
                    .iter()
                    .zip(values)
                    .map(|(n, v)| (n.to_string(), f64::from(v)))
                    .collect();
                naga::back::pipeline_constants::process_overrides(
                    &module,
                    &info,
                    Some((naga::ShaderStage::Compute, "main")),
                    &constants,
                )
                .unwrap_or_else(|e| panic!("{kernel:?} norm {norm} {s:?}: {e}"));
            }
        }
    }
}

/// The kernels whose reference slices keep their own state have a `merge`
/// entry point (binding the uniform and the state buffers, bindings 4, …);
/// radius_count adds its slices' counts atomically and has none.
#[test]
fn merge_entry_points_bind_the_state_buffers() {
    for (kernel, state) in [(KernelKind::Knn, 2u32), (KernelKind::KdeLse, 1)] {
        let (module, info) = module(kernel);
        let n = module
            .entry_points
            .iter()
            .position(|e| e.name == "merge")
            .unwrap_or_else(|| panic!("{kernel:?}: no `merge` entry point"));
        let ep = info.get_entry_point(n);
        let mut bound: Vec<u32> = module
            .global_variables
            .iter()
            .filter(|(h, _)| !ep[*h].is_empty())
            .filter_map(|(_, v)| v.binding.as_ref().map(|b| b.binding))
            .collect();
        bound.sort();
        let want: Vec<u32> = std::iter::once(0).chain(4..4 + state).collect();
        assert_eq!(bound, want, "{kernel:?}: merge bindings");
        // The merge runs with the default override values.
        naga::back::pipeline_constants::process_overrides(
            &module,
            &info,
            Some((naga::ShaderStage::Compute, "merge")),
            &naga::back::PipelineConstants::default(),
        )
        .unwrap_or_else(|e| panic!("{kernel:?} merge: {e}"));
    }
    for kernel in [
        KernelKind::RadiusCount,
        KernelKind::Pairwise,
        KernelKind::Bin,
    ] {
        let (module, _) = module(kernel);
        assert!(
            module.entry_points.iter().all(|e| e.name != "merge"),
            "{kernel:?}"
        );
    }
}

#[test]
fn bin_params_match_the_rust_struct() {
    let rust: Vec<(&str, usize)> = vec![
        ("n_rows", offset_of!(BinParams, n_rows)),
        ("dim", offset_of!(BinParams, dim)),
        ("mode", offset_of!(BinParams, mode)),
        ("bins", offset_of!(BinParams, bins)),
        ("lo", offset_of!(BinParams, lo)),
        ("scale", offset_of!(BinParams, scale)),
        ("width", offset_of!(BinParams, width)),
        ("inv_width", offset_of!(BinParams, inv_width)),
        ("groups_x", offset_of!(BinParams, groups_x)),
        ("pad0", offset_of!(BinParams, pad0)),
        ("pad1", offset_of!(BinParams, pad1)),
        ("pad2", offset_of!(BinParams, pad2)),
    ];
    let (module, _) = module(KernelKind::Bin);
    let (size, members) = struct_layout(&module, "BinParams");
    assert_eq!(size as usize, size_of::<BinParams>());
    let wgsl: Vec<(&str, usize)> = members
        .iter()
        .map(|(n, o)| (n.as_str(), *o as usize))
        .collect();
    assert_eq!(wgsl, rust);
}

#[test]
fn shader_constants_match_the_host() {
    let (module, _) = module(KernelKind::Knn);
    for (name, want) in SHADER_CONSTANTS {
        let (_, c) = module
            .constants
            .iter()
            .find(|(_, c)| c.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("constant {name} not in common.wgsl"));
        match module.global_expressions[c.init] {
            naga::Expression::Literal(naga::Literal::U32(v)) => {
                assert_eq!(v, want, "{name}")
            }
            ref e => panic!("{name}: unexpected initialiser {e:?}"),
        }
    }
}

/// The host binds buffers at group 0, bindings 0, 1, 2, … in order: the uniform
/// parameters first, then storage buffers, and every binding the shader's
/// entry point uses must be one of them.
#[test]
fn bindings_are_the_ones_the_host_binds() {
    // (kernel, storage buffers after the uniform, params struct)
    let expect = [
        (KernelKind::Knn, 5, "PairParams"),
        (KernelKind::RadiusCount, 5, "PairParams"),
        (KernelKind::KdeLse, 4, "PairParams"),
        (KernelKind::Pairwise, 4, "PairParams"),
        (KernelKind::Bin, 5, "BinParams"),
    ];
    for (kernel, storage, params) in expect {
        let (module, info) = module(kernel);
        let main = module
            .entry_points
            .iter()
            .position(|e| e.name == "main")
            .expect("a main entry point");
        let ep = &info.get_entry_point(main);
        let mut bound: Vec<(u32, naga::AddressSpace, Option<String>)> = module
            .global_variables
            .iter()
            .filter(|(h, _)| !ep[*h].is_empty())
            .filter_map(|(_, v)| {
                v.binding.as_ref().map(|b| {
                    assert_eq!(b.group, 0, "{kernel:?}: group");
                    (b.binding, v.space, module.types[v.ty].name.clone())
                })
            })
            .collect();
        bound.sort_by_key(|b| b.0);
        let numbers: Vec<u32> = bound.iter().map(|b| b.0).collect();
        assert_eq!(
            numbers,
            (0..=storage).collect::<Vec<u32>>(),
            "{kernel:?}: binding numbers"
        );
        assert_eq!(bound[0].1, naga::AddressSpace::Uniform, "{kernel:?}");
        assert_eq!(bound[0].2.as_deref(), Some(params), "{kernel:?}");
        for b in &bound[1..] {
            assert!(
                matches!(b.1, naga::AddressSpace::Storage { .. }),
                "{kernel:?}: binding {} is not a storage buffer",
                b.0
            );
        }
    }
}
