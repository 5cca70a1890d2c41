//! `cmd < FILE` on another node (`SpawnRequest.stdin_file_fd`): a client
//! on this node's socket names a regular file it has open; the process's
//! node pulls the file's bytes from this node over a direct pipe's stream
//! (`PipeOpen.offer`) and feeds them into the process's stdin, so the
//! bytes go node to node and never through the client. When the process
//! runs here, it gets the file itself, as a child of the client would.
//!
//! The entry node takes a copy of the client's descriptor (pidfd_getfd)
//! and keeps it under a random ticket ([`Offers`]) for as long as the
//! forwarded spawn takes: the process's node claims it (once) before it
//! starts the process, and whatever was not claimed is dropped when the
//! spawn has answered.

use std::io::Read;
use std::os::fd::AsFd;
use std::sync::Arc;

use dashmap::DashMap;
use proto::v1::{InheritedStdio, SpawnRequest, StdinMode, StdinOffer};
use tonic::Status;

use super::processes::inherited_stdio;
use super::route::Target;
use crate::auth::Principal;
use crate::error::ProcError;
use crate::hostproc;

/// Files this node holds for processes of other nodes to read as stdin,
/// by ticket.
#[derive(Debug, Default)]
pub struct Offers {
    by_ticket: DashMap<Vec<u8>, Offer>,
}

#[derive(Debug)]
struct Offer {
    file: std::fs::File,
    /// Who the spawn was for: only a PipeOpen for them claims it.
    user: String,
}

/// An offer made for one forwarded spawn: withdrawn when dropped (after
/// the spawn answered; a claimed one is gone already).
#[must_use = "the offer is withdrawn when this is dropped"]
pub struct Offered {
    offers: Arc<Offers>,
    ticket: Vec<u8>,
}

impl Drop for Offered {
    fn drop(&mut self) {
        self.offers.by_ticket.remove(&self.ticket);
    }
}

impl Offers {
    /// Offers `file` to `user` under a new ticket, until the result is
    /// dropped.
    fn offer(self: &Arc<Self>, file: std::fs::File, user: &str) -> Result<Offered, Status> {
        let mut ticket = vec![0u8; 16];
        getrandom::fill(&mut ticket)
            .map_err(|e| ProcError::Internal(format!("no randomness: {e}")))?;
        let offer = Offer {
            file,
            user: user.to_string(),
        };
        self.by_ticket.insert(ticket.clone(), offer);
        Ok(Offered {
            offers: self.clone(),
            ticket,
        })
    }

    /// Takes the file offered under `ticket` for `principal`; NotFound if
    /// there is none (unknown, claimed already, withdrawn, or another
    /// user's).
    pub fn claim(
        &self,
        ticket: &[u8],
        principal: &Principal,
    ) -> Result<Arc<std::fs::File>, Status> {
        let not_found = || Status::not_found("no such file offered (withdrawn or claimed)");
        let (_, offer) = self.by_ticket.remove(ticket).ok_or_else(not_found)?;
        if offer.user != principal.user {
            return Err(not_found());
        }
        Ok(Arc::new(offer.file))
    }
}

/// Checks `stdin_file_fd` and `stdin_offer` in a spawn request that
/// reached this node (`forwarded`: from another node) and is to run at
/// `target`. Here: the process gets the client's file as its stdin
/// (`inherit.stdin_fd`). On another node: the file is offered there, the
/// request names the offer, and the offer lasts while the returned
/// [`Offered`] lives.
pub fn prepare(
    offers: &Arc<Offers>,
    this_slot: u32,
    req: &mut SpawnRequest,
    target: &Target,
    principal: &Principal,
    caller: Option<tokio::net::unix::UCred>,
    forwarded: bool,
) -> Result<Option<Offered>, Status> {
    let refuse = |why: &str| Status::from(ProcError::InvalidArgument(why.to_string()));
    let file_mode = req.stdin == StdinMode::File as i32;
    if req.stdin_offer.is_some() {
        if !forwarded {
            return Err(refuse("stdin_offer is set by nodes only"));
        }
        if !file_mode || req.stdin_file_fd.is_some() || req.stdin_from != 0 {
            return Err(refuse(
                "stdin_offer: stdin must be STDIN_MODE_FILE, without stdin_file_fd or stdin_from",
            ));
        }
        return Ok(None);
    }
    let Some(fd) = req.stdin_file_fd.take() else {
        if file_mode {
            return Err(refuse("STDIN_MODE_FILE needs stdin_file_fd"));
        }
        return Ok(None);
    };
    if !file_mode {
        return Err(refuse("stdin_file_fd needs stdin STDIN_MODE_FILE"));
    }
    if req.tty.is_some() {
        return Err(refuse(
            "stdin_file_fd: a process with a terminal reads the terminal",
        ));
    }
    if req.stdin_from != 0 {
        return Err(refuse("stdin_file_fd: not with stdin_from"));
    }
    if req.inherit.as_ref().is_some_and(|i| i.stdin_fd.is_some()) {
        return Err(refuse("stdin_file_fd: not with inherit.stdin_fd"));
    }
    let wanted = InheritedStdio {
        stdin_fd: Some(fd),
        ..Default::default()
    };
    let client = inherited_stdio(caller, forwarded, false, &wanted)?;
    let pidfd = hostproc::pidfd_of(&client)
        .ok_or_else(|| refuse("stdin_file_fd: the calling process is gone"))?;
    let file = std::fs::File::from(
        hostproc::take_fd(pidfd.as_fd(), fd).map_err(|_| ProcError::NoSuchDescriptor(fd))?,
    );
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err(refuse("stdin_file_fd: not a regular file"));
    }
    match target {
        Target::Local => {
            // The process gets the client's file itself; the keeper takes
            // it from the client as for `inherit`.
            drop(file);
            req.inherit.get_or_insert_default().stdin_fd = Some(fd);
            Ok(None)
        }
        Target::Remote { .. } => {
            let offered = offers.offer(file, &principal.user)?;
            req.stdin_offer = Some(StdinOffer {
                slot: this_slot,
                ticket: offered.ticket.clone(),
            });
            Ok(Some(offered))
        }
    }
}

/// The next chunk of an offered file, read on the blocking pool into
/// `data`'s spare capacity (up to it); `None` at its end.
pub async fn read_chunk(
    file: &Arc<std::fs::File>,
    mut data: Vec<u8>,
) -> Result<Option<Vec<u8>>, Status> {
    let file = file.clone();
    let read = tokio::task::spawn_blocking(move || {
        let room = (data.capacity() - data.len()) as u64;
        (&*file)
            .take(room)
            .read_to_end(&mut data)
            .map(|n| (n, data))
    })
    .await
    .map_err(|e| ProcError::Internal(format!("the reader task failed: {e}")))?;
    match read {
        Ok((0, _)) => Ok(None),
        Ok((_, data)) => Ok(Some(data)),
        Err(e) => Err(ProcError::os("cannot read the offered file", e).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(user: &str) -> Principal {
        Principal {
            user: user.into(),
            admin: false,
        }
    }

    /// An offer is claimed once, only by its user, and is gone once
    /// withdrawn.
    #[test]
    fn an_offer_is_claimed_once_by_its_user() {
        let offers = Arc::new(Offers::default());
        let file = || std::fs::File::open("/dev/null").unwrap();
        let offered = offers.offer(file(), "alice").unwrap();
        let ticket = offered.ticket.clone();
        assert!(offers.claim(&[0; 16], &principal("alice")).is_err());
        assert!(offers.claim(&ticket, &principal("alice")).is_ok());
        assert!(offers.claim(&ticket, &principal("alice")).is_err());
        drop(offered);

        let offered = offers.offer(file(), "alice").unwrap();
        let ticket = offered.ticket.clone();
        let wrong = offers.claim(&ticket, &principal("bob")).unwrap_err();
        assert_eq!(wrong.code(), tonic::Code::NotFound);
        // A wrong claim spends it: nobody gets it after.
        assert!(offers.claim(&ticket, &principal("alice")).is_err());
        drop(offered);

        let offered = offers.offer(file(), "alice").unwrap();
        let ticket = offered.ticket.clone();
        drop(offered);
        assert!(offers.claim(&ticket, &principal("alice")).is_err());
        assert!(offers.by_ticket.is_empty());
    }
}
