//! A one-shot SNTP query (RFC 4330) for `doctor`'s clock check: the local clock's offset from
//! an NTP server. TOTP codes depend on the clock, so an offset of a few seconds shows.

use std::net::{ToSocketAddrs, UdpSocket};
use std::time::Duration;

/// Seconds between 1900-01-01 (NTP's epoch) and 1970-01-01.
const NTP_TO_UNIX: f64 = 2_208_988_800.0;

fn to_ntp(unix: f64) -> [u8; 8] {
    let ntp = unix + NTP_TO_UNIX;
    let secs = ntp.floor();
    // Truncation is the point: a 32.32 fixed-point timestamp.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (secs, frac) = (secs as u32, ((ntp - secs) * 4_294_967_296.0) as u32);
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&secs.to_be_bytes());
    out[4..].copy_from_slice(&frac.to_be_bytes());
    out
}

fn from_ntp(bytes: &[u8]) -> Option<f64> {
    let secs = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?);
    let frac = u32::from_be_bytes(bytes.get(4..8)?.try_into().ok()?);
    Some(f64::from(secs) - NTP_TO_UNIX + f64::from(frac) / 4_294_967_296.0)
}

/// Asks `server` (`host` or `host:port`, port 123 by default) once and returns the local
/// clock's offset in seconds (positive: the local clock is behind). `now` reads the local
/// clock in Unix seconds.
///
/// # Errors
/// A message for an unresolvable name, no answer within `timeout`, or a malformed or refusing
/// (kiss-of-death) answer.
pub(crate) fn offset(
    server: &str,
    timeout: Duration,
    now: &dyn Fn() -> f64,
) -> Result<f64, String> {
    let target = match server.parse::<std::net::IpAddr>() {
        Ok(ip) => std::net::SocketAddr::new(ip, 123).to_string(),
        Err(_) if server.contains(':') => server.to_owned(),
        Err(_) => format!("{server}:123"),
    };
    let addr = target
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {server}: {e}"))?
        .next()
        .ok_or_else(|| format!("{server} has no address"))?;
    let bind = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UdpSocket::bind(bind).map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    socket
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut request = [0u8; 48];
    request[0] = 0x23; // LI 0, version 4, mode 3 (client)
    let t1 = now();
    let sent = to_ntp(t1);
    request[40..48].copy_from_slice(&sent);
    socket
        .send_to(&request, addr)
        .map_err(|e| format!("cannot send to {addr}: {e}"))?;
    let mut reply = [0u8; 48];
    let (len, _) = socket
        .recv_from(&mut reply)
        .map_err(|_| format!("no answer from {addr} within {} s", timeout.as_secs()))?;
    let t4 = now();
    if len < 48 || reply[0] & 0x07 != 4 || reply[24..32] != sent {
        return Err(format!("{addr} did not answer as an NTP server"));
    }
    if reply[1] == 0 {
        return Err(format!("{addr} refused the query (kiss-of-death)"));
    }
    let t2 = from_ntp(&reply[32..40]).ok_or("short answer")?;
    let t3 = from_ntp(&reply[40..48]).ok_or("short answer")?;
    Ok(((t2 - t1) + (t3 - t4)) / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        for unix in [0.0, 1_700_000_000.25, 2_000_000_000.5] {
            let back = from_ntp(&to_ntp(unix)).unwrap();
            assert!((back - unix).abs() < 1e-6, "{unix} -> {back}");
        }
    }
}
