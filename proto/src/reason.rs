//! Why the API refused a request, as a word in the status's metadata
//! ([`REASON_HEADER`]) that clients match on instead of the message text
//! (which is for people and may change). noded sets it where it makes
//! statuses (its `api/status.rs`); clients read it with [`reason_of`].

use tonic::Status;
use tonic::metadata::MetadataValue;

/// Status metadata carrying the [`Reason`].
pub const REASON_HEADER: &str = "nefele-reason";

/// A refusal clients act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// No such process (or another user's: SPEC §9).
    NoSuchProcess,
    /// The process has ended: it can no longer be signalled or fed.
    Exited,
    /// No such node.
    NoSuchNode,
    /// The executable (or its interpreter) does not exist.
    NoSuchExecutable,
    /// The executable is a directory.
    IsADirectory,
    /// The executable cannot be run (permissions, format).
    NotExecutable,
    /// The node gave up waiting, as asked (a Wait's timeout), as opposed
    /// to a call that ran out of time on the way.
    TimedOut,
    /// A node is down, left, stopping or unreachable (the message names
    /// it).
    NodeUnavailable,
}

const WORDS: [(Reason, &str); 8] = [
    (Reason::NoSuchProcess, "no-such-process"),
    (Reason::Exited, "exited"),
    (Reason::NoSuchNode, "no-such-node"),
    (Reason::NoSuchExecutable, "no-such-executable"),
    (Reason::IsADirectory, "is-a-directory"),
    (Reason::NotExecutable, "not-executable"),
    (Reason::TimedOut, "timed-out"),
    (Reason::NodeUnavailable, "node-unavailable"),
];

impl Reason {
    /// Its word on the wire.
    pub fn as_str(self) -> &'static str {
        WORDS
            .iter()
            .find(|(r, _)| *r == self)
            .map_or("", |(_, w)| w)
    }

    /// The reason a word names.
    pub fn from_word(word: &str) -> Option<Reason> {
        WORDS.iter().find(|(_, w)| *w == word).map(|(r, _)| *r)
    }

    /// `status`, marked with this reason.
    pub fn mark(self, mut status: Status) -> Status {
        status
            .metadata_mut()
            .insert(REASON_HEADER, MetadataValue::from_static(self.as_str()));
        status
    }
}

/// The reason a status carries, if any.
pub fn reason_of(status: &Status) -> Option<Reason> {
    let word = status.metadata().get(REASON_HEADER)?.to_str().ok()?;
    Reason::from_word(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reason_survives_the_status() {
        for (reason, _) in WORDS {
            let status = reason.mark(Status::not_found("whatever the text says"));
            assert_eq!(reason_of(&status), Some(reason));
        }
        assert_eq!(reason_of(&Status::not_found("no such process 1")), None);
    }
}
