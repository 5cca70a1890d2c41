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

use std::collections::HashMap;
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
        let services = Arc::new(self.backend.list_services().await?);
        Ok(self.services.store(services))
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
        let name = self
            .service_ids
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .name(id)
            .map(str::to_string)
            .ok_or(FsError::NotFound)?;
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
