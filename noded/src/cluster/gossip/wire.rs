//! What a gossip datagram is on the wire: the cluster's tag, then foca's
//! payload, sealed (ChaCha20-Poly1305 under a key derived from the CA's
//! key, with the sender's clock inside) or, in an `--insecure` cluster, in
//! the clear. docs/design/security.md, "Gossip".

use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// Bytes of the cluster tag at the start of every datagram.
const TAG_LEN: usize = 8;

/// What sealing adds to a datagram: nonce, send time, AEAD tag.
const SEAL_LEN: usize = NONCE_LEN + 8 + 16;

/// A sealed datagram sent longer ago than this (by the sender's clock) is
/// dropped: a replay window, and the clock skew members may have.
const SEAL_WINDOW_MS: u64 = 60_000;

/// Seals and opens gossip datagrams with the cluster's gossip key.
struct Sealer {
    key: LessSafeKey,
}

impl Sealer {
    /// The key: SHA-256 over a label, the cluster id and `secret` (the
    /// CA's private key, which every member has and nobody else).
    fn new(cluster_id: &str, secret: &str) -> Sealer {
        use sha2::Digest;
        let digest = sha2::Sha256::new()
            .chain_update(b"nefele gossip key v1\0")
            .chain_update(cluster_id.as_bytes())
            .chain_update(b"\0")
            .chain_update(secret.as_bytes())
            .finalize();
        let key = UnboundKey::new(&CHACHA20_POLY1305, &digest).expect("a 32-byte key");
        Sealer {
            key: LessSafeKey::new(key),
        }
    }

    /// Appends `payload` sealed to `out` (which holds the tag, the AAD):
    /// nonce, then the payload and the send time encrypted, then the
    /// AEAD tag.
    fn seal(&self, out: &mut Vec<u8>, payload: &[u8], now_ms: u64) {
        let mut nonce = [0u8; NONCE_LEN];
        if getrandom::fill(&mut nonce).is_err() {
            out.clear();
            return;
        }
        let aad_len = out.len();
        out.extend_from_slice(&nonce);
        out.extend_from_slice(payload);
        out.extend_from_slice(&now_ms.to_be_bytes());
        let (head, body) = out.split_at_mut(aad_len + NONCE_LEN);
        let sealed = self.key.seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(&head[..aad_len]),
            body,
        );
        match sealed {
            Ok(tag) => out.extend_from_slice(tag.as_ref()),
            Err(_) => out.clear(),
        }
    }

    /// The payload of a sealed datagram (after the tag, which is the
    /// AAD), if it opens with this key and was sent within the window.
    fn open<'a>(&self, tag: &[u8], sealed: &'a mut [u8], now_ms: u64) -> Option<&'a [u8]> {
        if sealed.len() < SEAL_LEN {
            return None;
        }
        let (nonce, body) = sealed.split_at_mut(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let plain = self.key.open_in_place(nonce, Aad::from(tag), body).ok()?;
        let (payload, sent) = plain.split_at(plain.len() - 8);
        let sent = u64::from_be_bytes(sent.try_into().ok()?);
        (sent.abs_diff(now_ms) <= SEAL_WINDOW_MS).then_some(payload)
    }
}

/// The cluster's tag: FNV-1a of its id (a guard against mixing clusters,
/// not a secret: the seal is what keeps others out).
fn cluster_tag(cluster_id: &str) -> [u8; TAG_LEN] {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in cluster_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash.to_be_bytes()
}

/// Frames foca's payloads for this cluster and takes frames apart.
pub(super) struct Wire {
    tag: [u8; TAG_LEN],
    /// `None`: an `--insecure` cluster, payloads in the clear.
    sealer: Option<Sealer>,
}

impl Wire {
    /// The framing of cluster `cluster_id`, sealed with a key derived from
    /// `secret` when there is one.
    pub(super) fn new(cluster_id: &str, secret: Option<&str>) -> Wire {
        Wire {
            tag: cluster_tag(cluster_id),
            sealer: secret.map(|secret| Sealer::new(cluster_id, secret)),
        }
    }

    /// What framing adds to a payload, at most.
    pub(super) const OVERHEAD: usize = TAG_LEN + SEAL_LEN;

    /// `payload` framed into `out` (emptied first; left empty if it could
    /// not be sealed).
    pub(super) fn frame(&self, out: &mut Vec<u8>, payload: &[u8], now_ms: u64) {
        out.clear();
        out.extend_from_slice(&self.tag);
        match &self.sealer {
            None => out.extend_from_slice(payload),
            Some(sealer) => sealer.seal(out, payload, now_ms),
        }
    }

    /// The payload of a datagram of this cluster that opens (with the
    /// key, unaltered, within the window); `None` for anything else.
    pub(super) fn unframe<'a>(&self, data: &'a mut [u8], now_ms: u64) -> Option<&'a [u8]> {
        if data.len() < TAG_LEN || data[..TAG_LEN] != self.tag {
            return None;
        }
        let (tag, rest) = data.split_at_mut(TAG_LEN);
        match &self.sealer {
            None => Some(rest),
            Some(sealer) => sealer.open(tag, rest, now_ms),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_datagrams_open_only_unaltered_with_the_key_and_in_time() {
        let sealer = Sealer::new("cluster", "ca key");
        let tag = cluster_tag("cluster");
        let seal = |payload: &[u8], at: u64| {
            let mut out = tag.to_vec();
            sealer.seal(&mut out, payload, at);
            out
        };
        let now = 1_000_000;
        let mut datagram = seal(b"ping", now);
        assert_eq!(datagram.len(), TAG_LEN + SEAL_LEN + 4);
        let (t, rest) = datagram.split_at_mut(TAG_LEN);
        assert_eq!(sealer.open(t, rest, now + 5).unwrap(), b"ping");
        // Another cluster's key, or the same cluster without the CA key.
        for other in [
            Sealer::new("cluster", "other key"),
            Sealer::new("other", "ca key"),
        ] {
            let mut datagram = seal(b"ping", now);
            let (t, rest) = datagram.split_at_mut(TAG_LEN);
            assert!(other.open(t, rest, now).is_none());
        }
        // Any bit changed, in the tag or the body.
        for at in [0, TAG_LEN + 3, TAG_LEN + NONCE_LEN + 1] {
            let mut datagram = seal(b"ping", now);
            datagram[at] ^= 1;
            let (t, rest) = datagram.split_at_mut(TAG_LEN);
            assert!(sealer.open(t, rest, now).is_none(), "bit flipped at {at}");
        }
        // Replayed after the window (or from a clock far off).
        let mut datagram = seal(b"ping", now);
        let (t, rest) = datagram.split_at_mut(TAG_LEN);
        assert!(sealer.open(t, rest, now + SEAL_WINDOW_MS + 1).is_none());
        // Short junk.
        assert!(sealer.open(&tag, &mut [0u8; 10], now).is_none());
    }

    #[test]
    fn clusters_have_distinct_tags() {
        assert_ne!(cluster_tag("a"), cluster_tag("b"));
        assert_eq!(cluster_tag("a"), cluster_tag("a"));
    }
}
