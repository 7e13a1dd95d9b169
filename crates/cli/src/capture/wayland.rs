//! Wayland screen capture through the wlroots `zwlr_screencopy_manager_v1` protocol (sway,
//! Hyprland, river, Wayfire, labwc, niri): one frame per `wl_output`, copied by the compositor
//! into a shared-memory buffer that we hand it.
//!
//! All of it is safe Rust: `wayland-client`'s pure-Rust backend speaks the wire protocol, the
//! buffer is a `memfd` (RAM only, so screen content never reaches a disk), and we read the
//! pixels back with `pread` on that file instead of mapping it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use wayland_client::globals::{GlobalListContents, registry_queue_init};
use wayland_client::protocol::{wl_buffer, wl_output, wl_registry, wl_shm, wl_shm_pool};
use wayland_client::{Connection, Dispatch, EventQueue, Proxy, QueueHandle, WEnum, delegate_noop};
use wayland_protocols_wlr::screencopy::v1::client::{
    zwlr_screencopy_frame_v1::{self, ZwlrScreencopyFrameV1},
    zwlr_screencopy_manager_v1::ZwlrScreencopyManagerV1,
};
use zeroize::Zeroizing;

use super::{Grab, luma};

/// How long the compositor may take to answer, in all.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Largest frame accepted from the compositor, per side (8K is 7680).
const MAX_SIDE: u32 = 16_384;
/// Largest shared buffer allocated for one frame.
const MAX_BUFFER_BYTES: u64 = 512 * 1024 * 1024;

/// Why the Wayland path could not capture; `Unsupported` lets the caller try another way.
#[derive(Debug)]
pub(crate) enum WaylandError {
    /// The compositor does not offer wlr-screencopy (GNOME, KDE) or has no outputs.
    Unsupported(String),
    /// Everything else: no compositor, a protocol error, a refused copy.
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for WaylandError {
    fn from(e: anyhow::Error) -> Self {
        Self::Failed(e)
    }
}

/// Every output of the Wayland compositor named by `WAYLAND_DISPLAY`, as greyscale.
pub(crate) fn screen() -> Result<Vec<Grab>, WaylandError> {
    let conn = Connection::connect_to_env()
        .map_err(|e| anyhow!("cannot connect to the Wayland compositor ({e})"))?;
    let (globals, mut queue) = registry_queue_init::<State>(&conn)
        .map_err(|e| anyhow!("the Wayland compositor did not list its globals ({e})"))?;
    let qh = queue.handle();
    let manager: ZwlrScreencopyManagerV1 = globals.bind(&qh, 1..=3, ()).map_err(|_| {
        WaylandError::Unsupported(
            "this Wayland compositor does not offer the wlr-screencopy protocol".into(),
        )
    })?;
    let shm: wl_shm::WlShm = globals
        .bind(&qh, 1..=1, ())
        .map_err(|e| anyhow!("the Wayland compositor offers no wl_shm ({e})"))?;
    let outputs: Vec<wl_output::WlOutput> = globals.contents().with_list(|list| {
        list.iter()
            .filter(|g| g.interface == "wl_output")
            .map(|g| {
                globals.registry().bind::<wl_output::WlOutput, _, _>(
                    g.name,
                    g.version.min(4),
                    &qh,
                    (),
                )
            })
            .collect()
    });
    if outputs.is_empty() {
        return Err(WaylandError::Unsupported(
            "the Wayland compositor reports no outputs".into(),
        ));
    }

    let mut state = State {
        frames: outputs.iter().map(|_| FrameState::default()).collect(),
    };
    let frames: Vec<ZwlrScreencopyFrameV1> = outputs
        .iter()
        .enumerate()
        .map(|(i, o)| manager.capture_output(0, o, &qh, i))
        .collect();
    let deadline = Instant::now() + TIMEOUT;
    // The compositor describes the buffer it wants right away (`buffer`, and `buffer_done`
    // from version 3 on); version 1/2 compositors send no `buffer_done`, so a roundtrip's
    // worth of events is all there is.
    let v3 = manager.version() >= 3;
    dispatch_until(&mut queue, &mut state, deadline, |s| {
        s.frames
            .iter()
            .all(|f| f.failed || (f.shm.is_some() && (!v3 || f.buffer_done)))
    })?;

    let mut pending = Vec::new();
    for (i, frame) in frames.iter().enumerate() {
        let Some(f) = state.frames.get(i) else {
            continue;
        };
        if f.failed {
            continue;
        }
        let Some(spec) = f.shm else {
            continue;
        };
        let file = shm_file(&spec)?;
        let pool = shm.create_pool(
            std::os::fd::AsFd::as_fd(&file),
            i32::try_from(spec.bytes()).map_err(|_| anyhow!("frame buffer too large"))?,
            &qh,
            (),
        );
        let buffer = pool.create_buffer(
            0,
            i32::try_from(spec.width).map_err(|_| anyhow!("frame too wide"))?,
            i32::try_from(spec.height).map_err(|_| anyhow!("frame too tall"))?,
            i32::try_from(spec.stride).map_err(|_| anyhow!("frame stride too large"))?,
            spec.format,
            &qh,
            (),
        );
        frame.copy(&buffer);
        pending.push((i, file, pool, buffer));
    }
    dispatch_until(&mut queue, &mut state, deadline, |s| {
        pending
            .iter()
            .all(|(i, ..)| s.frames.get(*i).is_none_or(|f| f.ready || f.failed))
    })?;

    let mut grabs = Vec::new();
    let mut failed = 0;
    for (i, file, pool, buffer) in pending {
        let (Some(f), Some(spec)) = (state.frames.get(i), state.frames.get(i).and_then(|f| f.shm))
        else {
            continue;
        };
        if f.failed || !f.ready {
            failed += 1;
        } else {
            grabs.push(read_frame(&file, &spec, f.y_invert)?);
        }
        buffer.destroy();
        pool.destroy();
    }
    for frame in &frames {
        frame.destroy();
    }
    manager.destroy();
    conn.flush().ok();
    if grabs.is_empty() {
        return Err(WaylandError::Failed(anyhow!(
            "the Wayland compositor copied none of its {} outputs ({failed} refused; the others \
             offered no shared-memory buffer)",
            outputs.len()
        )));
    }
    Ok(grabs)
}

/// The buffer the compositor asked for.
#[derive(Clone, Copy, Debug)]
struct ShmSpec {
    format: wl_shm::Format,
    width: u32,
    height: u32,
    stride: u32,
}

impl ShmSpec {
    fn bytes(&self) -> u64 {
        u64::from(self.stride) * u64::from(self.height)
    }
}

#[derive(Debug, Default)]
struct FrameState {
    shm: Option<ShmSpec>,
    buffer_done: bool,
    y_invert: bool,
    ready: bool,
    failed: bool,
}

struct State {
    frames: Vec<FrameState>,
}

/// A RAM-only file of the buffer's size, shared with the compositor.
fn shm_file(spec: &ShmSpec) -> Result<File> {
    if spec.width == 0
        || spec.height == 0
        || spec.width > MAX_SIDE
        || spec.height > MAX_SIDE
        || u64::from(spec.stride) < u64::from(spec.width) * 4
        || spec.bytes() > MAX_BUFFER_BYTES
    {
        return Err(anyhow!(
            "the Wayland compositor asked for an implausible {}x{} frame (stride {})",
            spec.width,
            spec.height,
            spec.stride
        ));
    }
    let fd = rustix::fs::memfd_create("tokendesk-screencopy", rustix::fs::MemfdFlags::CLOEXEC)
        .context("cannot create a shared-memory buffer for the screen capture")?;
    let file = File::from(fd);
    file.set_len(spec.bytes())
        .context("cannot size the shared-memory buffer for the screen capture")?;
    Ok(file)
}

/// Reads the copied frame out of the shared file and turns it into greyscale rows, top first.
fn read_frame(file: &File, spec: &ShmSpec, y_invert: bool) -> Result<Grab> {
    let len = usize::try_from(spec.bytes()).context("frame too large")?;
    let mut raw = Zeroizing::new(vec![0u8; len]);
    file.read_exact_at(&mut raw, 0)
        .context("cannot read the captured frame back")?;
    // Little-endian wl_shm formats: ARGB/XRGB8888 are B,G,R,A in memory; ABGR/XBGR are R,G,B,A.
    let bgr = match spec.format {
        wl_shm::Format::Argb8888 | wl_shm::Format::Xrgb8888 => true,
        wl_shm::Format::Abgr8888 | wl_shm::Format::Xbgr8888 => false,
        other => return Err(anyhow!("unsupported Wayland pixel format {other:?}")),
    };
    let (w, h) = (spec.width as usize, spec.height as usize);
    let stride = spec.stride as usize;
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        let row = if y_invert { h - 1 - y } else { y };
        let start = row * stride;
        let line = raw
            .get(start..start + w * 4)
            .ok_or_else(|| anyhow!("captured frame shorter than announced"))?;
        out.extend(line.chunks_exact(4).map(|p| match (p, bgr) {
            (&[b, g, r, _], true) | (&[r, g, b, _], false) => luma(r, g, b),
            _ => 255,
        }));
    }
    Ok(Grab {
        width: w,
        height: h,
        luma: out,
    })
}

/// Dispatches events until `done` holds, without ever blocking past `deadline`.
fn dispatch_until(
    queue: &mut EventQueue<State>,
    state: &mut State,
    deadline: Instant,
    done: impl Fn(&State) -> bool,
) -> Result<()> {
    loop {
        queue
            .dispatch_pending(state)
            .map_err(|e| anyhow!("Wayland protocol error: {e}"))?;
        if done(state) {
            return Ok(());
        }
        queue
            .flush()
            .map_err(|e| anyhow!("lost the Wayland connection: {e}"))?;
        let Some(guard) = queue.prepare_read() else {
            continue;
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(anyhow!(
                "the Wayland compositor did not deliver the screen within {} s",
                TIMEOUT.as_secs()
            ));
        }
        let timeout = rustix::time::Timespec {
            tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let fd = guard.connection_fd();
        let mut fds = [rustix::event::PollFd::new(
            &fd,
            rustix::event::PollFlags::IN,
        )];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) => {}
            Ok(_) => {
                guard
                    .read()
                    .map_err(|e| anyhow!("lost the Wayland connection: {e}"))?;
            }
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(anyhow!("waiting for the Wayland compositor failed: {e}")),
        }
    }
}

impl Dispatch<ZwlrScreencopyFrameV1, usize> for State {
    fn event(
        state: &mut Self,
        _: &ZwlrScreencopyFrameV1,
        event: zwlr_screencopy_frame_v1::Event,
        index: &usize,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
        let Some(f) = state.frames.get_mut(*index) else {
            return;
        };
        match event {
            zwlr_screencopy_frame_v1::Event::Buffer {
                format: WEnum::Value(format),
                width,
                height,
                stride,
            } => {
                f.shm = Some(ShmSpec {
                    format,
                    width,
                    height,
                    stride,
                });
            }
            zwlr_screencopy_frame_v1::Event::BufferDone => f.buffer_done = true,
            zwlr_screencopy_frame_v1::Event::Flags {
                flags: WEnum::Value(flags),
            } => {
                f.y_invert = flags.contains(zwlr_screencopy_frame_v1::Flags::YInvert);
            }
            zwlr_screencopy_frame_v1::Event::Ready { .. } => f.ready = true,
            zwlr_screencopy_frame_v1::Event::Failed => f.failed = true,
            _ => {}
        }
    }
}

impl Dispatch<wl_registry::WlRegistry, GlobalListContents> for State {
    fn event(
        _: &mut Self,
        _: &wl_registry::WlRegistry,
        _: wl_registry::Event,
        _: &GlobalListContents,
        _: &Connection,
        _: &QueueHandle<Self>,
    ) {
    }
}

delegate_noop!(State: ignore ZwlrScreencopyManagerV1);
delegate_noop!(State: ignore wl_shm::WlShm);
delegate_noop!(State: ignore wl_output::WlOutput);
delegate_noop!(State: ignore wl_shm_pool::WlShmPool);
delegate_noop!(State: ignore wl_buffer::WlBuffer);
