//! Cloud Map meets /proc: a service registered in Cloud Map (moto) with the
//! address of a listener this test opened is joined, in the graph
//! database, to the process that really listens there. Each collector runs
//! as its own process into the broker, as in production, and the two
//! observations of one `Endpoint` merge into one node. Deregistered, the
//! instance and the join are gone after the next completed sync.

// A test fails loudly where its setup or a result is not what it needs.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use aws_sdk_servicediscovery::Client;
use common::cloudmap::{ACCOUNT, CREDENTIALS, REGION, namespace, routable_ipv4};
use common::*;
use infragraph_test_support::{self as support, require};

const PATIENCE: Duration = Duration::from_secs(180);

/// An HTTP namespace named `ns` holding service "web" with one instance at
/// `ip:port`; returns the service id.
async fn register_web(sd: &Client, ns: &str, ip: Ipv4Addr, port: u16) -> String {
    let ns_id = namespace(sd, ns).await;
    let svc = sd
        .create_service()
        .name("web")
        .namespace_id(&ns_id)
        .send()
        .await
        .expect("CreateService");
    let svc_id = svc.service.and_then(|s| s.id).expect("a service id");
    sd.register_instance()
        .service_id(&svc_id)
        .instance_id("web-1")
        .attributes("AWS_INSTANCE_IPV4", ip.to_string())
        .attributes("AWS_INSTANCE_PORT", port.to_string())
        .send()
        .await
        .expect("RegisterInstance");
    svc_id
}

/// The processes of `host` listening where an instance of `service` is
/// registered: (pid, endpoint id).
async fn serving(
    sink: &infragraph_graph_writer::BoltSink,
    service: &str,
    host: &str,
) -> Result<Vec<(i64, String)>, neo4rs::Error> {
    let q = neo4rs::query(
        "MATCH (s:CloudMapService {id: $service})<-[:REGISTERED_TO]-(:CloudMapInstance)-[:HAS_ENDPOINT]->(e:Endpoint)<-[:LISTENS_ON]-(p:Process)-[:RUNS_ON]->(:Host {id: $host}) \
         RETURN p.pid AS pid, e.id AS endpoint",
    )
    .param("service", service)
    .param("host", host);
    let mut rows = sink.graph().execute(q).await?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push((
            row.get("pid").expect("pid is an integer"),
            row.get("endpoint").expect("endpoint is a string"),
        ));
    }
    Ok(out)
}

/// The instances registered to `service` in the graph, `None` when the
/// service itself is not there.
async fn instances(
    sink: &infragraph_graph_writer::BoltSink,
    service: &str,
) -> Result<Option<i64>, neo4rs::Error> {
    let q = neo4rs::query("MATCH (s:CloudMapService {id: $service}) OPTIONAL MATCH (i:CloudMapInstance)-[:REGISTERED_TO]->(s) RETURN count(i) AS n").param("service", service);
    let mut rows = sink.graph().execute(q).await?;
    Ok(rows
        .next()
        .await?
        .map(|row| row.get("n").expect("n is an integer")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cloud_map_instance_at_a_listeners_address_joins_its_service_to_that_process() {
    require!(brokers = support::KAFKA, "Kafka broker");
    require!(aws = support::AWS, "AWS API server (moto)");
    let Some(bolt_cfg) = bolt_config() else {
        return;
    };
    let sink = bolt(&bolt_cfg);
    let host = support::unique("join-host");
    let ns = support::unique("join-ns");

    let ip = routable_ipv4();
    let listener = TcpListener::bind((ip, 0)).expect("listen on the host's address");
    let port = listener
        .local_addr()
        .expect("the listener's address")
        .port();
    let sd = common::cloudmap::client(&aws).await;
    let service = register_web(&sd, &ns, ip, port).await;

    let p = Pipeline::unique(brokers, "join");
    let mut normalizer = p.normalizer(1);
    let mut writer = p.writer(&bolt_cfg);
    p.collect_procfs("/proc", &host);
    let collect_cloud_map = || {
        p.collect(
            &[
                "cloudmap",
                "--endpoint-url",
                &aws,
                "--region",
                REGION,
                "--account-id",
                ACCOUNT,
                "--namespace",
                &ns,
            ],
            &CREDENTIALS,
        )
    };
    collect_cloud_map();

    let endpoint = format!("tcp://{ip}:{port}");
    let found = eventually(
        "the Cloud Map service reaches the listening process",
        PATIENCE,
        async || match serving(&sink, &service, &host).await {
            Ok(rows) if !rows.is_empty() => Ok(rows),
            Ok(rows) => Err(format!("{rows:?}")),
            Err(e) => Err(e.to_string()),
        },
    )
    .await;
    assert_eq!(
        found,
        vec![(i64::from(std::process::id()), endpoint.clone())],
        "exactly this test process, through the one shared endpoint"
    );

    sd.deregister_instance()
        .service_id(&service)
        .instance_id("web-1")
        .send()
        .await
        .expect("DeregisterInstance");
    collect_cloud_map();
    eventually(
        "the deregistered instance leaves the graph, its service stays",
        PATIENCE,
        async || match instances(&sink, &service).await {
            Ok(Some(0)) => Ok(()),
            Ok(n) => Err(format!("instances of the service: {n:?}")),
            Err(e) => Err(e.to_string()),
        },
    )
    .await;
    let left = serving(&sink, &service, &host)
        .await
        .expect("query the graph");
    assert!(left.is_empty(), "no join without the instance: {left:?}");

    normalizer.assert_running();
    writer.assert_running();
    drop(listener);
    bolt_forget(&sink, &host).await;
    let q = neo4rs::query("MATCH (x) WHERE x.id = $endpoint OR x.id = $service OR x.service_id = $service DETACH DELETE x").param("endpoint", endpoint).param("service", service);
    if let Err(e) = sink.graph().run(q).await {
        eprintln!("note: could not remove the Cloud Map nodes from the test database: {e}");
    }
}
