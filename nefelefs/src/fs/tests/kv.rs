//! The `kv/` tree against the in-memory backend's keys.

use super::*;

fn kv_caller(user: &str) -> KvCaller {
    KvCaller {
        user: user.into(),
        uid: 1000,
        gid: 1000,
    }
}

#[tokio::test]
async fn kv_keys_are_files_and_slashes_make_directories() {
    let fs = NefeleFs::new(Memory::default());
    let (alice, bob) = (kv_caller("alice"), kv_caller("bob"));
    let (app, fh) = {
        let app = fs.kv_mkdir(KV, "app", &alice).await.unwrap();
        let (port, fh) = fs
            .kv_create(app.ino, "port", &alice, true, false)
            .await
            .unwrap();
        assert_eq!(port.kind, Kind::File);
        (app, fh)
    };
    assert_eq!(fs.kv_write(fh, 0, b"8080\n").await.unwrap(), 5);
    fs.kv_flush(fh).await.unwrap();
    fs.kv_release(fh).await;
    assert_eq!(
        fs.backend
            .kv_get("alice", "app/port")
            .await
            .unwrap()
            .unwrap()
            .value,
        b"8080\n"
    );
    // Bob has his own keys: Alice's are not there, her inodes not his.
    assert_eq!(fs.kv_lookup(KV, "app", &bob).await, Err(FsError::NotFound));
    assert_eq!(fs.kv_getattr(app.ino, &bob).await, Err(FsError::NotFound));
    let names = |entries: Vec<(Attr, String)>| entries.into_iter().map(|e| e.1).collect::<Vec<_>>();
    assert_eq!(names(fs.kv_readdir(KV, &bob).await.unwrap()), [".", ".."]);
    // A key set elsewhere shows up, its prefix as a directory.
    fs.backend
        .kv_put("alice", "db/primary/host", b"h1".to_vec(), false)
        .await
        .unwrap();
    fs.backend
        .kv_put("alice", "bad//key", b"x".to_vec(), false)
        .await
        .unwrap();
    assert_eq!(
        names(fs.kv_readdir(KV, &alice).await.unwrap()),
        [".", "..", "app", "db"]
    );
    let db = fs.kv_lookup(KV, "db", &alice).await.unwrap();
    assert_eq!(db.kind, Kind::Dir);
    let primary = fs.kv_lookup(db.ino, "primary", &alice).await.unwrap();
    let host = fs.kv_lookup(primary.ino, "host", &alice).await.unwrap();
    assert_eq!((host.kind, host.size), (Kind::File, 2));
    let fh = fs.kv_open(host.ino, &alice, false, false).await.unwrap();
    assert_eq!(fs.kv_read(fh, 0, 100).await.unwrap(), b"h1");
    // rmdir of a directory with keys is refused; emptied, it goes.
    assert_eq!(fs.kv_rmdir(KV, "app", &alice).await, Err(FsError::NotEmpty));
    fs.kv_unlink(app.ino, "port", &alice).await.unwrap();
    assert_eq!(
        fs.kv_unlink(app.ino, "port", &alice).await,
        Err(FsError::NotFound)
    );
    fs.kv_rmdir(KV, "app", &alice).await.unwrap();
    assert_eq!(
        fs.kv_lookup(KV, "app", &alice).await,
        Err(FsError::NotFound)
    );
}

#[tokio::test]
async fn kv_writes_truncation_append_rename_and_limits() {
    let fs = NefeleFs::new(Memory::default());
    let me = kv_caller("alice");
    let (attr, fh) = fs.kv_create(KV, "k", &me, false, false).await.unwrap();
    fs.kv_write(fh, 0, b"hello world").await.unwrap();
    fs.kv_write(fh, 6, b"there").await.unwrap();
    let value = || async {
        fs.backend
            .kv_get("alice", "k")
            .await
            .unwrap()
            .unwrap()
            .value
    };
    // Stored at close, whole.
    assert_eq!(value().await, b"");
    fs.kv_flush(fh).await.unwrap();
    fs.kv_release(fh).await;
    assert_eq!(value().await, b"hello there");
    // O_APPEND writes at the end; O_TRUNC empties it at close.
    let fh = fs.kv_open(attr.ino, &me, false, true).await.unwrap();
    fs.kv_write(fh, 0, b"!").await.unwrap();
    fs.kv_flush(fh).await.unwrap();
    assert_eq!(value().await, b"hello there!");
    // (the first close may be a shell's before its command writes)
    let fh = fs.kv_open(attr.ino, &me, true, false).await.unwrap();
    fs.kv_flush(fh).await.unwrap();
    assert_eq!(value().await, b"hello there!");
    fs.kv_flush(fh).await.unwrap();
    assert_eq!(value().await, b"");
    // An exclusive create of an existing key fails; a plain one opens it.
    assert_eq!(
        fs.kv_create(KV, "k", &me, true, false).await.map(drop),
        Err(FsError::Exists)
    );
    fs.kv_create(KV, "k", &me, false, false).await.unwrap();
    // Too big a value fails the write, and nothing of that open is stored.
    let fh = fs.kv_open(attr.ino, &me, false, false).await.unwrap();
    fs.kv_write(fh, 0, b"v1").await.unwrap();
    fs.kv_flush(fh).await.unwrap();
    let fh = fs.kv_open(attr.ino, &me, true, false).await.unwrap();
    let chunk = vec![b'x'; proto::coord_limits::MAX_VALUE_BYTES / 2];
    fs.kv_write(fh, 0, &chunk).await.unwrap();
    fs.kv_write(fh, chunk.len() as u64, &chunk).await.unwrap();
    assert_eq!(
        fs.kv_write(fh, 2 * chunk.len() as u64, b"!").await,
        Err(FsError::TooBig)
    );
    fs.kv_flush(fh).await.unwrap();
    assert_eq!(value().await, b"v1");
    // rename moves the value; a directory with keys answers EXDEV.
    fs.kv_rename((KV, "k"), (KV, "k2"), false, &me)
        .await
        .unwrap();
    assert_eq!(fs.backend.kv_get("alice", "k").await.unwrap(), None);
    fs.backend
        .kv_put("alice", "d/x", b"1".to_vec(), false)
        .await
        .unwrap();
    assert_eq!(
        fs.kv_rename((KV, "d"), (KV, "e"), false, &me).await,
        Err(FsError::CrossDevice)
    );
    // A name longer than a key may be.
    let long = "n".repeat(proto::coord_limits::MAX_KEY_BYTES + 1);
    assert_eq!(
        fs.kv_mkdir(KV, &long, &me).await.map(drop),
        Err(FsError::NameTooLong)
    );
}
