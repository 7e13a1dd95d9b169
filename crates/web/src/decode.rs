//! Decoding uploaded screenshots without stalling the server: each decode runs on a blocking
//! thread, at most one per core at a time, within a pixel budget (checked from the image
//! header) and a time budget that stops the search itself, not only our wait for it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use tokendesk_qr::{Budget, QrCode, QrError};
use tokio::sync::Semaphore;

use crate::error::Problem;

/// What one screenshot decode may cost. Settings of `tokendesk serve`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QrLimits {
    /// Most pixels an uploaded image may declare (the decoder's own cap, 8192x8192, applies
    /// above this).
    pub max_pixels: u64,
    /// How long the search for a code may run once it has a core; it is stopped after that.
    pub time_budget: Duration,
    /// Most decodes at once; never more than the number of cores, whatever this says.
    pub max_parallel: usize,
}

impl Default for QrLimits {
    fn default() -> Self {
        Self {
            max_pixels: 40_000_000,
            time_budget: Duration::from_secs(5),
            max_parallel: usize::MAX,
        }
    }
}

/// The decode slots (one per core) and the limits.
pub(crate) struct Decoder {
    slots: Arc<Semaphore>,
    limits: QrLimits,
}

impl Decoder {
    pub(crate) fn new(limits: QrLimits) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self {
            slots: Arc::new(Semaphore::new(limits.max_parallel.clamp(1, cores))),
            limits,
        }
    }

    /// Every QR code in `image`. Waits at most twice the time budget for a free slot (a slot
    /// is never held much longer than one budget), then answers 503.
    pub(crate) async fn decode(&self, image: Vec<u8>) -> Result<Vec<QrCode>, Problem> {
        let QrLimits {
            max_pixels,
            time_budget,
            ..
        } = self.limits;
        let wait = time_budget.saturating_mul(2);
        let slot = match tokio::time::timeout(wait, Arc::clone(&self.slots).acquire_owned()).await {
            Ok(Ok(slot)) => slot,
            _ => {
                let mut busy = Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "busy",
                    "the server is busy reading other screenshots; retry in a few seconds",
                );
                busy.retry_after = Some(i64::try_from(time_budget.as_secs()).unwrap_or(5));
                return Err(busy);
            }
        };
        let decoded = tokio::task::spawn_blocking(move || {
            // The slot travels with the work: it is free again only when the search has
            // actually stopped, even if the client went away.
            let _slot = slot;
            let deadline = Instant::now() + time_budget;
            tokendesk_qr::decode_image_within(
                &image,
                &Budget {
                    max_pixels,
                    should_stop: &|| Instant::now() >= deadline,
                },
            )
        })
        .await;
        match decoded {
            Ok(result) => result.map_err(|e| problem(&e, time_budget)),
            Err(e) => {
                tracing::error!(error = %e, "screenshot decoding failed");
                Err(Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error; the server log has the details",
                ))
            }
        }
    }
}

/// The answer for a screenshot that could not be decoded: what is wrong and what to do.
fn problem(err: &QrError, time_budget: Duration) -> Problem {
    match err {
        QrError::TooLarge { .. } | QrError::OverBudget { .. } => {
            Problem::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", err.to_string())
        }
        QrError::Stopped => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "decode_timeout",
            format!(
                "decoding took longer than {} s; crop the screenshot to the QR code and upload it again",
                time_budget.as_secs_f32()
            ),
        ),
        _ => Problem::invalid(format!("the screenshot cannot be read: {err}")),
    }
}
