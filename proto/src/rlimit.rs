//! Resource limits as the API names them (`ResourceLimit.resource`): the
//! one table of names to RLIMIT_* numbers, and how a child applies them
//! before exec (used by the keeper and by nsh's `@local` children).

/// The resources, as Linux names them without RLIMIT_, lowercase.
pub const RESOURCES: [(&str, libc::__rlimit_resource_t); 16] = [
    ("as", libc::RLIMIT_AS),
    ("core", libc::RLIMIT_CORE),
    ("cpu", libc::RLIMIT_CPU),
    ("data", libc::RLIMIT_DATA),
    ("fsize", libc::RLIMIT_FSIZE),
    ("locks", libc::RLIMIT_LOCKS),
    ("memlock", libc::RLIMIT_MEMLOCK),
    ("msgqueue", libc::RLIMIT_MSGQUEUE),
    ("nice", libc::RLIMIT_NICE),
    ("nofile", libc::RLIMIT_NOFILE),
    ("nproc", libc::RLIMIT_NPROC),
    ("rss", libc::RLIMIT_RSS),
    ("rtprio", libc::RLIMIT_RTPRIO),
    ("rttime", libc::RLIMIT_RTTIME),
    ("sigpending", libc::RLIMIT_SIGPENDING),
    ("stack", libc::RLIMIT_STACK),
];

/// The RLIMIT_* number of a resource name.
pub fn resource(name: &str) -> Option<libc::__rlimit_resource_t> {
    RESOURCES.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

/// One limit to set: resource, soft and hard (absent: unchanged).
pub type Rlimit = (libc::__rlimit_resource_t, Option<u64>, Option<u64>);

/// Sets `limits` on the calling process; a soft limit left unchanged
/// follows a lowered hard one. Only getrlimit and setrlimit: safe between
/// fork and exec.
pub fn apply(limits: &[Rlimit]) -> std::io::Result<()> {
    for (resource, soft, hard) in limits {
        let mut now = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit read and write the structs we pass.
        unsafe {
            if libc::getrlimit(*resource, &mut now) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let max = hard.unwrap_or(now.rlim_max);
            let wanted = libc::rlimit {
                rlim_cur: soft.unwrap_or(now.rlim_cur).min(max),
                rlim_max: max,
            };
            if libc::setrlimit(*resource, &wanted) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}
