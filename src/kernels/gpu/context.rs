//! `GpuContext`: one wgpu device and everything the kernels share on it.
//!
//! It exists so that the kernels never touch wgpu's setup, error reporting or
//! readback directly: the instance is created on the native backends only
//! (Vulkan, Metal, DX12 — never the OpenGL fallback, which lacks what the
//! shaders assume), the device is opened with the adapter's real limits (not
//! the downlevel defaults, so large bindings work), pipelines are compiled once
//! and cached, every object is labelled `infoplane.<kernel>.<role>`, and all
//! failures (validation, out of memory, device lost, a failed map) come back
//! as [`Error`] values instead of panics (DESIGN.md, "Backends").
//!
//! Faults can be injected for the robustness tests ([`Fault`]): on an open
//! context with [`GpuContext::inject`], and at the next [`GpuContext::open`]
//! on the calling thread with [`inject_at_open`]. For the command line, the
//! environment variable [`FAULT_ENV`] (`INFOPLANE_TEST_FAULT=adapter_request`)
//! makes every adapter request of the process fail; it is a test hook, read
//! only here.

use super::{shader_source, SHADERS};
use crate::error::{Error, Result};
use crate::kernels::plan::KernelKind;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use wgpu::util::DeviceExt;

/// The native backends; wgpu's default set would add the OpenGL fallback.
pub const NATIVE_BACKENDS: wgpu::Backends = wgpu::Backends::VULKAN
    .union(wgpu::Backends::METAL)
    .union(wgpu::Backends::DX12);

/// Bytes uploaded between two waits on the queue: staging memory for uploads
/// is only reclaimed once the GPU has caught up, so streaming data larger
/// than GPU memory waits every so often.
const UPLOAD_WAIT_BYTES: u64 = 256 << 20;

/// A fault to inject (robustness tests): the next kernel call sees it, or for
/// [`Fault::AdapterRequest`] the next adapter request.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Destroys the device: every later call reports a lost device.
    DeviceLost,
    /// The next buffer allocation fails as out of memory.
    OutOfMemory,
    /// The next adapter request fails (a driver or loader error), which is
    /// not the same as finding no adapter: [`Error::AdapterRequest`].
    AdapterRequest,
}

/// The device test hook (see the module docs): `adapter_request` makes every
/// [`GpuContext::open`] in the process fail as [`Fault::AdapterRequest`].
pub const FAULT_ENV: &str = "INFOPLANE_TEST_FAULT";

thread_local! {
    /// A fault armed for the next [`GpuContext::open`] on this thread.
    static AT_OPEN: std::cell::Cell<Option<Fault>> = const { std::cell::Cell::new(None) };
}

/// Test hook: the next [`GpuContext::open`] on this thread meets `fault`
/// ([`Fault::AdapterRequest`] fails the open; the others strike the new
/// context's first kernel call).
#[doc(hidden)]
pub fn inject_at_open(fault: Fault) {
    AT_OPEN.with(|f| f.set(Some(fault)));
}

/// The fault this open meets: one armed on this thread, else the environment's.
fn fault_at_open() -> Option<Fault> {
    AT_OPEN.with(|f| f.take()).or_else(|| {
        let v = std::env::var(FAULT_ENV).ok()?;
        match v.as_str() {
            "adapter_request" => Some(Fault::AdapterRequest),
            "" => None,
            other => {
                log::warn!("{FAULT_ENV}={other}: unknown fault (known: adapter_request); ignored");
                None
            }
        }
    })
}

/// A kernel, its entry point and the values of its override constants (one pipeline each).
type PipelineKey = (KernelKind, &'static str, Vec<(&'static str, u32)>);

/// One opened adapter, its device and queue, and the compiled pipelines.
pub struct GpuContext {
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    device: wgpu::Device,
    queue: wgpu::Queue,
    /// Compiled pipelines, by kernel and override constants.
    pipelines: Mutex<HashMap<PipelineKey, Arc<wgpu::ComputePipeline>>>,
    /// Set by the device-lost callback.
    lost: Arc<Mutex<Option<String>>>,
    /// Errors that escaped every error scope.
    uncaptured: Arc<Mutex<Option<String>>>,
    /// One-shot out-of-memory injection.
    inject_oom: Mutex<bool>,
    uploaded: Mutex<u64>,
}

/// A wgpu instance on the native backends.
pub fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = NATIVE_BACKENDS;
    // Validation layers are for debugging wgpu itself and slow every call.
    desc.flags = wgpu::InstanceFlags::default()
        .difference(wgpu::InstanceFlags::VALIDATION | wgpu::InstanceFlags::DEBUG);
    wgpu::Instance::new(desc)
}

/// Every adapter on the native backends.
pub fn adapters(instance: &wgpu::Instance) -> Vec<wgpu::Adapter> {
    pollster::block_on(instance.enumerate_adapters(NATIVE_BACKENDS))
}

/// Whether an adapter is a software rasteriser (lavapipe, WARP, SwiftShader).
pub fn is_software(info: &wgpu::AdapterInfo) -> bool {
    info.device_type == wgpu::DeviceType::Cpu
}

/// Preference among adapters: discrete, integrated, virtual, other, software last.
fn rank(info: &wgpu::AdapterInfo) -> u8 {
    match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

/// Index of the adapter `auto` (or, with `allow_software`, `gpu`) would pick.
pub fn pick(infos: &[wgpu::AdapterInfo], allow_software: bool) -> Option<usize> {
    infos
        .iter()
        .enumerate()
        .filter(|(_, i)| allow_software || !is_software(i))
        .min_by_key(|(n, i)| (rank(i), *n))
        .map(|(n, _)| n)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means another thread panicked while holding plain data.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl GpuContext {
    /// Opens the preferred adapter: hardware first; software only with `allow_software`.
    pub fn open(allow_software: bool) -> Result<Self> {
        let fault = fault_at_open();
        if fault == Some(Fault::AdapterRequest) {
            return Err(Error::AdapterRequest(
                "the request to the Vulkan/Metal/DX12 loader failed (injected fault)".into(),
            ));
        }
        let instance = instance();
        let adapters = adapters(&instance);
        let infos: Vec<_> = adapters.iter().map(|a| a.get_info()).collect();
        let Some(n) = pick(&infos, allow_software) else {
            let seen = if infos.is_empty() {
                "no Vulkan, Metal or DX12 adapter found".to_string()
            } else {
                format!(
                    "only software adapters found ({}); use --backend gpu to run on them",
                    infos
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            return Err(Error::NoAdapter(seen));
        };
        let adapter = &adapters[n];
        let info = infos[n].clone();
        let limits = adapter.limits();
        let desc = wgpu::DeviceDescriptor {
            label: Some("infoplane.device"),
            required_features: wgpu::Features::empty(),
            // The adapter's real limits: large storage bindings and grids.
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) = pollster::block_on(adapter.request_device(&desc)).map_err(|e| {
            Error::AdapterRequest(format!("{}: cannot open the device: {e}", info.name))
        })?;
        let lost = Arc::new(Mutex::new(None));
        let uncaptured = Arc::new(Mutex::new(None));
        {
            let lost = lost.clone();
            device.set_device_lost_callback(move |reason, msg| {
                *lock(&lost) = Some(format!("device lost ({reason:?}): {msg}"));
            });
            let uncaptured = uncaptured.clone();
            device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                lock(&uncaptured).get_or_insert_with(|| e.to_string());
            }));
        }
        let ctx = GpuContext {
            info,
            limits,
            device,
            queue,
            pipelines: Mutex::new(HashMap::new()),
            lost,
            uncaptured,
            inject_oom: Mutex::new(false),
            uploaded: Mutex::new(0),
        };
        if let Some(f) = fault {
            ctx.inject(f);
        }
        Ok(ctx)
    }

    /// The adapter.
    pub fn info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// The device limits in force.
    pub fn limits(&self) -> &wgpu::Limits {
        &self.limits
    }

    /// Injects a fault (robustness tests). [`Fault::AdapterRequest`] concerns
    /// opening, not this context: it is armed for the next open on this thread.
    pub fn inject(&self, fault: Fault) {
        match fault {
            Fault::DeviceLost => {
                lock(&self.lost).get_or_insert_with(|| "device lost (injected)".into());
                self.device.destroy();
            }
            Fault::OutOfMemory => *lock(&self.inject_oom) = true,
            Fault::AdapterRequest => inject_at_open(fault),
        }
    }

    /// Fails when the device is gone or an error escaped the scopes.
    pub fn check_alive(&self, kernel: &'static str) -> Result<()> {
        if let Some(reason) = lock(&self.lost).clone() {
            return Err(Error::Device { kernel, reason });
        }
        if let Some(reason) = lock(&self.uncaptured).take() {
            return Err(Error::Device { kernel, reason });
        }
        Ok(())
    }

    /// Runs `f` inside out-of-memory and validation error scopes, so that
    /// any wgpu error raised by it comes back as an [`Error::Device`].
    pub fn scoped<T>(&self, kernel: &'static str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.check_alive(kernel)?;
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let v = pollster::block_on(validation.pop());
        let o = pollster::block_on(oom.pop());
        self.check_alive(kernel)?;
        if let Some(e) = o {
            return Err(Error::Device {
                kernel,
                reason: format!("out of GPU memory: {e}"),
            });
        }
        if let Some(e) = v {
            return Err(Error::Device {
                kernel,
                reason: e.to_string(),
            });
        }
        out
    }

    /// The compute pipeline of `kernel`'s entry point `entry` specialised
    /// with the override constants `overrides` (empty for none), compiled on
    /// first use and cached.
    pub fn pipeline(
        &self,
        kernel: KernelKind,
        entry: &'static str,
        overrides: &[(&'static str, u32)],
    ) -> Result<Arc<wgpu::ComputePipeline>> {
        let key = (kernel, entry, overrides.to_vec());
        if let Some(p) = lock(&self.pipelines).get(&key) {
            return Ok(p.clone());
        }
        let name = kernel.name();
        let label = |role: &str| format!("infoplane.{name}.{role}");
        let source = shader_source(kernel);
        debug_assert!(SHADERS.iter().any(|s| s.kernel == kernel));
        let constants: Vec<(&str, f64)> =
            overrides.iter().map(|&(n, v)| (n, f64::from(v))).collect();
        let pipeline = self.scoped(name, || {
            let module = self
                .device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(&label("shader")),
                    source: wgpu::ShaderSource::Wgsl(source.into()),
                });
            Ok(self
                .device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(&label("pipeline")),
                    layout: None,
                    module: &module,
                    entry_point: Some(entry),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants: &constants,
                        // Every shader writes the workgroup memory it reads first.
                        zero_initialize_workgroup_memory: false,
                    },
                    cache: None,
                }))
        })?;
        let pipeline = Arc::new(pipeline);
        lock(&self.pipelines).insert(key, pipeline.clone());
        Ok(pipeline)
    }

    fn check_size(
        &self,
        kernel: &'static str,
        role: &str,
        bytes: u64,
        binding: bool,
    ) -> Result<()> {
        if std::mem::take(&mut *lock(&self.inject_oom)) {
            return Err(Error::Device {
                kernel,
                reason: format!("out of GPU memory allocating `{role}` ({bytes} bytes, injected)"),
            });
        }
        let max = if binding {
            self.limits
                .max_storage_buffer_binding_size
                .min(self.limits.max_buffer_size)
        } else {
            self.limits.max_buffer_size
        };
        if bytes > max {
            return Err(Error::Device {
                kernel,
                reason: format!(
                    "buffer `{role}` of {bytes} bytes exceeds the device limit of {max}"
                ),
            });
        }
        Ok(())
    }

    /// A storage buffer holding `contents` (at least 4 bytes: empty bindings are invalid).
    pub fn storage(
        &self,
        kernel: &'static str,
        role: &str,
        contents: &[u8],
    ) -> Result<wgpu::Buffer> {
        self.check_size(kernel, role, contents.len() as u64, true)?;
        *lock(&self.uploaded) += contents.len() as u64;
        let pad = [0u8; 4];
        let contents = if contents.is_empty() {
            &pad[..]
        } else {
            contents
        };
        Ok(self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(&format!("infoplane.{kernel}.{role}")),
                contents,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
            }))
    }

    /// A storage buffer of `bytes` bytes (at least 4) that the shaders write
    /// before they read it: nothing is uploaded.
    pub fn scratch(&self, kernel: &'static str, role: &str, bytes: u64) -> Result<wgpu::Buffer> {
        self.check_size(kernel, role, bytes, true)?;
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(&format!("infoplane.{kernel}.{role}")),
            size: bytes.max(4).div_ceil(4) * 4,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        }))
    }

    /// A uniform buffer holding `contents`.
    pub fn uniform(&self, kernel: &'static str, contents: &[u8]) -> Result<wgpu::Buffer> {
        self.check_size(kernel, "params", contents.len() as u64, false)?;
        Ok(self
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(&format!("infoplane.{kernel}.params")),
                contents,
                usage: wgpu::BufferUsages::UNIFORM,
            }))
    }

    /// Records and submits one dispatch of `kernel`'s `main` (specialised
    /// with `overrides`) over a `(x, y)` grid with the given buffers at
    /// bindings 0, 1, 2, …
    pub fn dispatch(
        &self,
        kernel: KernelKind,
        overrides: &[(&'static str, u32)],
        buffers: &[&wgpu::Buffer],
        grid: (u32, u32),
    ) -> Result<()> {
        let bound: Vec<_> = buffers
            .iter()
            .enumerate()
            .map(|(n, &b)| (n as u32, b))
            .collect();
        self.dispatch_entry(kernel, "main", overrides, &bound, [grid.0, grid.1, 1])
    }

    /// Records and submits one dispatch of `kernel`'s entry point `entry`
    /// over an `(x, y, z)` grid with `(binding, buffer)` pairs: exactly the
    /// bindings that entry point uses.
    pub fn dispatch_entry(
        &self,
        kernel: KernelKind,
        entry: &'static str,
        overrides: &[(&'static str, u32)],
        buffers: &[(u32, &wgpu::Buffer)],
        grid: [u32; 3],
    ) -> Result<()> {
        let name = kernel.name();
        let pipeline = self.pipeline(kernel, entry, overrides)?;
        let entries: Vec<_> = buffers
            .iter()
            .map(|&(binding, b)| wgpu::BindGroupEntry {
                binding,
                resource: b.as_entire_binding(),
            })
            .collect();
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(&format!("infoplane.{name}.bind_group")),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some(&format!("infoplane.{name}.encoder")),
            });
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(&format!("infoplane.{name}.pass")),
                timestamp_writes: None,
            });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(grid[0], grid[1], grid[2]);
        }
        self.queue.submit([encoder.finish()]);
        if *lock(&self.uploaded) > UPLOAD_WAIT_BYTES {
            self.wait(name)?;
        }
        Ok(())
    }

    fn wait(&self, kernel: &'static str) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Device {
                kernel,
                reason: format!("waiting for the GPU: {e}"),
            })?;
        *lock(&self.uploaded) = 0;
        Ok(())
    }

    /// Reads the first `len` elements of `buffer` back to the host.
    pub fn read<T: bytemuck::Pod>(
        &self,
        kernel: &'static str,
        buffer: &wgpu::Buffer,
        len: usize,
    ) -> Result<Vec<T>> {
        self.read_at(kernel, buffer, 0, len)
    }

    /// Reads elements `start..start + len` of `buffer` back to the host: the
    /// one readback path of the backend (copy to a mappable buffer, map, wait).
    pub fn read_at<T: bytemuck::Pod>(
        &self,
        kernel: &'static str,
        buffer: &wgpu::Buffer,
        start: usize,
        len: usize,
    ) -> Result<Vec<T>> {
        let elem = std::mem::size_of::<T>();
        debug_assert!(
            start == 0 || elem.is_multiple_of(4),
            "copies start at multiples of 4 bytes"
        );
        let offset = (start * elem) as u64;
        let bytes = (len * elem) as u64;
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let size = bytes.div_ceil(4) * 4;
        self.check_size(kernel, "readback", size, false)?;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(&format!("infoplane.{kernel}.readback")),
            size,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some(&format!("infoplane.{kernel}.readback_encoder")),
            });
        encoder.copy_buffer_to_buffer(buffer, offset, &staging, 0, size);
        self.queue.submit([encoder.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait(kernel)?;
        self.check_alive(kernel)?;
        match rx.try_recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(Error::Device {
                    kernel,
                    reason: format!("mapping the result buffer failed: {e}"),
                })
            }
            Err(_) => {
                return Err(Error::Device {
                    kernel,
                    reason: "the result buffer was never mapped".into(),
                })
            }
        }
        let out = {
            let view = staging.get_mapped_range(..).map_err(|e| Error::Device {
                kernel,
                reason: format!("reading the result buffer: {e}"),
            })?;
            bytemuck::pod_collect_to_vec::<u8, T>(&view[..bytes as usize])
        };
        staging.unmap();
        Ok(out)
    }
}
