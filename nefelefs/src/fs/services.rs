//! The `svc/` part of the filesystem model (SPEC §7): a directory per
//! service, `svc/<name>/`, holding `spec` and `replicas` (rendered by
//! render.rs), from one ListServices answer cached for [`LIST_TTL`].
//!
//! A service's name is not a number, so its inode comes from
//! [`ServiceIds`]: each name seen gets the next number, for the life of
//! the mount. A directory keeps its inode while the kernel caches it, and
//! a service removed and created again under the same name is the same
//! path with the same inode. The table grows by one entry per distinct
//! name ever seen, which is bounded by what users create.
//!
//! A name missing from a cached listing (a service created within the
//! last second) is looked for again in a fresh listing before ENOENT.
//!
//! Services are their owner's (SPEC §9): a user sees in `svc/` only the
//! services their own ListServices answer names (as `svc ls` shows
//! them), root and administrators all. The tree is built from the full
//! listing; fuse.rs hides what the caller may not see ([`NefeleFs::visible`],
//! [`NefeleFs::only_visible`]), from each user's listing, cached alike.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use proto::v1::ServiceInfo;

use super::{Attr, Entry, Kind, NefeleFs, SvcFile, dir, ms_to_time};
use crate::backend::{Backend, FsError, FsResult};
use crate::render;

/// Numbers for service names (see the module doc).
#[derive(Default)]
pub(super) struct ServiceIds {
    by_name: HashMap<String, u32>,
    names: Vec<String>,
}

impl ServiceIds {
    /// The number of `name`, given one if it has none yet.
    fn id(&mut self, name: &str) -> u32 {
        if let Some(id) = self.by_name.get(name) {
            return *id;
        }
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.to_string());
        self.by_name.insert(name.to_string(), id);
        id
    }

    fn name(&self, id: u32) -> Option<&str> {
        self.names.get(id as usize).map(String::as_str)
    }
}

/// Whether a service name can be a directory entry (the API refuses the
/// others; this guards the tree against a name that would break it).
fn usable(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\0'])
}

fn service_name(info: &ServiceInfo) -> &str {
    info.spec.as_ref().map_or("", |s| s.name.as_str())
}

/// Attributes of a service's directory or one of its files: read-only,
/// owned by root, dated by the service's creation.
pub(super) fn attr(info: &ServiceInfo, entry: Entry) -> Attr {
    let kind = if matches!(entry, Entry::Service(_)) {
        Kind::Dir
    } else {
        Kind::File
    };
    Attr {
        kind,
        perm: if kind == Kind::Dir { 0o555 } else { 0o444 },
        mtime: ms_to_time(info.created_ms),
        ..dir(entry.ino())
    }
}

impl<B: Backend> NefeleFs<B> {
    /// Every service: the cached listing while it is under [`LIST_TTL`]
    /// old (unless `fresh`), else a new one.
    async fn service_list(&self, fresh: bool) -> FsResult<Arc<Vec<ServiceInfo>>> {
        if !fresh && let Some(services) = self.services.fresh() {
            return Ok(services);
        }
        let services = Arc::new(self.backend.list_services(None).await?);
        Ok(self.services.store(services))
    }

    /// The names of the services `user` sees (their own), as their
    /// ListServices answers: the cached answer while under [`LIST_TTL`]
    /// old (unless `fresh`), else a new one. A user without a name sees
    /// none (the node would take an empty name for the mount's own, root).
    async fn service_names_of(&self, user: &str, fresh: bool) -> FsResult<Arc<HashSet<String>>> {
        if user.is_empty() {
            return Ok(Arc::default());
        }
        if !fresh && let Some(names) = self.user_services.get(user).and_then(|c| c.fresh()) {
            return Ok(names);
        }
        let names = self
            .backend
            .list_services(Some(user))
            .await?
            .iter()
            .map(|s| service_name(s).to_string())
            .collect();
        let cache = self.user_services.entry(user.to_string()).or_default();
        Ok(cache.store(Arc::new(names)))
    }

    /// The name of service number `id`, if it was given one.
    fn service_id_name(&self, id: u32) -> Option<String> {
        self.service_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .name(id)
            .map(str::to_string)
    }

    /// Whether `user` sees service number `id`: it is in their cached
    /// listing, or else in a fresh one (a service made within the
    /// second). Nothing is seen when the cluster cannot say.
    pub(super) async fn user_sees_service(&self, user: &str, id: u32) -> bool {
        let Some(name) = self.service_id_name(id) else {
            return false;
        };
        for fresh in [false, true] {
            match self.service_names_of(user, fresh).await {
                Ok(names) if names.contains(&name) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
        false
    }

    /// Which of the services numbered `ids` `user` sees, from their
    /// cached listing (listings may lag a second, as the full one does).
    /// No `ids`, no call.
    pub(super) async fn services_seen_by(
        &self,
        user: &str,
        ids: impl IntoIterator<Item = u32>,
    ) -> HashSet<u32> {
        let ids: Vec<u32> = ids.into_iter().collect();
        if ids.is_empty() {
            return HashSet::new();
        }
        let Ok(names) = self.service_names_of(user, false).await else {
            return HashSet::new();
        };
        ids.into_iter()
            .filter(|id| {
                self.service_id_name(*id)
                    .is_some_and(|name| names.contains(&name))
            })
            .collect()
    }

    /// The service called `name` and its number; a name missing from the
    /// cached listing is looked for in a fresh one.
    pub(super) async fn service_named(&self, name: &str) -> FsResult<(u32, ServiceInfo)> {
        if !usable(name) {
            return Err(FsError::NotFound);
        }
        for fresh in [false, true] {
            let list = self.service_list(fresh).await?;
            if let Some(info) = list.iter().find(|s| service_name(s) == name) {
                let id = self
                    .service_ids
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .id(name);
                return Ok((id, info.clone()));
            }
        }
        Err(FsError::NotFound)
    }

    /// The service of number `id`, if it still exists.
    pub(super) async fn service(&self, id: u32) -> FsResult<ServiceInfo> {
        let name = self.service_id_name(id).ok_or(FsError::NotFound)?;
        Ok(self.service_named(&name).await?.1)
    }

    /// The entries of `svc/`, by name.
    pub(super) async fn service_entries(&self) -> FsResult<Vec<(u64, Kind, String)>> {
        let list = self.service_list(false).await?;
        let mut names: Vec<&str> = list
            .iter()
            .map(service_name)
            .filter(|n| usable(n))
            .collect();
        names.sort_unstable();
        names.dedup();
        let mut ids = self.service_ids.lock().unwrap_or_else(|e| e.into_inner());
        Ok(names
            .into_iter()
            .map(|n| (Entry::Service(ids.id(n)).ino(), Kind::Dir, n.to_string()))
            .collect())
    }

    /// The contents of `svc/<name>/<file>` now.
    pub(super) async fn render_service_file(&self, id: u32, file: SvcFile) -> FsResult<Vec<u8>> {
        let info = self.service(id).await?;
        Ok(match file {
            SvcFile::Spec => render::service_spec(&info),
            SvcFile::Replicas => {
                let now = proto::now_ms();
                render::service_replicas(&info, now)
            }
        }
        .into_bytes())
    }
}
