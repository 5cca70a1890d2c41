//! Generic gRPC clients reach a node (SPEC §5, issue #13): Python's grpcio
//! (the C-core client of Python, Ruby, PHP and C++) over the Unix socket
//! with no options, and server reflection in both versions, v1 and
//! v1alpha, which older generic clients speak.

use std::collections::HashSet;
use std::process::Command;

use tests::Node;

/// Calls `Cluster/Nodes` and `Processes/List` with grpcio over the node's
/// Unix socket, three times each (later calls reuse the HPACK dynamic
/// table entry of the socket-path authority); prints the reply sizes.
const GRPCIO: &str = r#"
import sys, grpc
major, minor = (int(x) for x in grpc.__version__.split(".")[:2])
# Since about 1.60, grpcio sends the socket path, percent-encoded, as the
# :authority of unix: targets: the case this test is about.
assert (major, minor) >= (1, 60), "grpcio %s is too old to show the case" % grpc.__version__
channel = grpc.insecure_channel("unix:" + sys.argv[1])
raw = dict(request_serializer=lambda x: x, response_deserializer=lambda x: x)
nodes = channel.unary_unary("/nefele.v1.Cluster/Nodes", **raw)
listing = channel.unary_unary("/nefele.v1.Processes/List", **raw)
for _ in range(3):
    print(len(nodes(b"", timeout=10)), len(listing(b"", timeout=10)))
"#;

#[tokio::test]
async fn python_grpcio_calls_the_api_over_the_socket_with_no_options() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let python = tests::python();
    let out = Command::new("timeout")
        .args(["-s", "KILL", "60"])
        .arg(&python)
        .args(["-c", GRPCIO])
        .arg(node.socket())
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{} with grpcio >= 1.60 must reach the node (.ci/run installs it in target/ci-python; \
         or set NEFELE_TEST_PYTHON): {stderr}",
        python.display()
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for line in lines {
        let sizes: Vec<usize> = line
            .split_whitespace()
            .map(|n| n.parse().unwrap_or(0))
            .collect();
        assert!(sizes[0] > 0, "Nodes replied with nothing: {stdout}");
    }
    Ok(())
}

/// The services reflection lists, asked over the socket in the version
/// whose generated types are in `$pb` (v1 and v1alpha are the same shape in
/// two packages).
macro_rules! listed {
    ($node:expr, $pb:path) => {{
        use $pb as pb;
        let channel = proto::connect(&$node.addr()).await?;
        let req = pb::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(pb::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
        };
        let mut replies = pb::server_reflection_client::ServerReflectionClient::new(channel)
            .server_reflection_info(futures::stream::iter([req]))
            .await?
            .into_inner();
        let reply = replies.message().await?.expect("a reply");
        let Some(pb::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
            reply.message_response
        else {
            anyhow::bail!("unexpected reply {reply:?}");
        };
        list.service
            .into_iter()
            .map(|s| s.name)
            .collect::<HashSet<String>>()
    }};
}

#[tokio::test]
async fn reflection_answers_in_v1_and_v1alpha() -> anyhow::Result<()> {
    let node = Node::start().await?;
    let v1 = listed!(node, tonic_reflection::pb::v1);
    let v1alpha = listed!(node, tonic_reflection::pb::v1alpha);
    for service in [
        "nefele.v1.Processes",
        "nefele.v1.Cluster",
        "nefele.v1.Services",
    ] {
        assert!(v1.contains(service), "v1: {v1:?}");
        assert!(v1alpha.contains(service), "v1alpha: {v1alpha:?}");
    }
    Ok(())
}
