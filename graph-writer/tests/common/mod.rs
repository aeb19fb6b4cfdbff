//! Helpers shared by the writer's integration tests: change builders, a
//! Bolt sink from the test environment, and a driver that runs the real
//! writer loop over an in-memory bus until everything is committed.
#![allow(dead_code)]

use std::time::Duration;

use infragraph_bus::{Bus, MemoryBus, OutMessage};
use infragraph_graph_writer::{BoltConfig, BoltSink, Sink, WriterConfig, run};
use infragraph_schemas::{
    Codec, Delete, EdgeRef, EdgeUpsert, Element, GRAPH_CHANGES_TOPIC, GraphChange, NodeRef,
    NodeUpsert, Properties, RelType, ResourceKind, ScopeRef, SyncBarrier, SyncKind, SyncStatus,
    Touch, Value,
};

/// A Bolt sink on the test database, or `None` to skip.
pub fn bolt_config() -> Option<BoltConfig> {
    let t = infragraph_test_support::bolt_target()?;
    Some(BoltConfig {
        uri: t.uri,
        user: t.user,
        password: t.password,
        database: t.database,
        timeout: Duration::from_secs(300),
    })
}

pub fn bolt() -> Option<BoltSink> {
    Some(BoltSink::connect(&bolt_config()?).expect("bolt config is valid"))
}

/// Builds the changes of one test, with ids under a unique prefix and
/// scopes unique to the test.
pub struct Changes {
    pub prefix: String,
}

impl Changes {
    pub fn new(name: &str) -> Self {
        Changes {
            prefix: infragraph_test_support::unique(name),
        }
    }

    pub fn id(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    pub fn scope(&self, name: &str) -> ScopeRef {
        ScopeRef::new("test", format!("{}/{name}", self.prefix))
    }

    pub fn node(&self, kind: ResourceKind, name: &str) -> NodeRef {
        NodeRef {
            kind,
            id: self.id(name),
        }
    }

    pub fn upsert(
        &self,
        scope: &str,
        epoch: i64,
        kind: ResourceKind,
        name: &str,
        props: &[(&str, Value)],
    ) -> GraphChange {
        GraphChange::NodeUpsert(NodeUpsert {
            node: self.node(kind, name),
            scope: self.scope(scope),
            epoch,
            observed_at: epoch,
            properties: props_of(props),
            props_at: None,
        })
    }

    pub fn edge_ref(
        &self,
        rel: RelType,
        from: (ResourceKind, &str),
        to: (ResourceKind, &str),
    ) -> EdgeRef {
        EdgeRef {
            rel_type: rel,
            from: self.node(from.0, from.1),
            to: self.node(to.0, to.1),
        }
    }

    pub fn edge(
        &self,
        scope: &str,
        epoch: i64,
        edge: EdgeRef,
        props: &[(&str, Value)],
    ) -> GraphChange {
        GraphChange::EdgeUpsert(EdgeUpsert {
            edge,
            scope: self.scope(scope),
            epoch,
            observed_at: epoch,
            properties: props_of(props),
            props_at: None,
        })
    }

    pub fn touch(&self, scope: &str, epoch: i64, element: Element) -> GraphChange {
        GraphChange::Touch(Touch {
            element,
            scope: self.scope(scope),
            epoch,
        })
    }

    pub fn delete(&self, scope: &str, epoch: i64, element: Element) -> GraphChange {
        GraphChange::Delete(Delete {
            element,
            scope: self.scope(scope),
            epoch,
        })
    }

    pub fn barrier(&self, scope: &str, epoch: i64, status: SyncStatus) -> GraphChange {
        self.barrier_of(scope, epoch, status, SyncKind::Reconciliation)
    }

    pub fn barrier_of(
        &self,
        scope: &str,
        epoch: i64,
        status: SyncStatus,
        kind: SyncKind,
    ) -> GraphChange {
        let reason = (status == SyncStatus::Failed).then(|| format!("sync {epoch} failed"));
        GraphChange::SyncBarrier(SyncBarrier {
            scope: self.scope(scope),
            epoch,
            status,
            reason,
            kind,
        })
    }

    pub fn key(&self, scope: &str) -> String {
        self.scope(scope).to_string()
    }
}

pub fn props_of(props: &[(&str, Value)]) -> Properties {
    props
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

pub fn host(c: &Changes, scope: &str, epoch: i64, name: &str) -> GraphChange {
    c.upsert(
        scope,
        epoch,
        ResourceKind::Host,
        name,
        &[("hostname", Value::from(name))],
    )
}

/// Publishes changes to the changes topic, as the normalizer does.
pub async fn publish<B: Bus>(bus: &B, changes: &[GraphChange]) {
    let codec = Codec::builtin();
    for change in changes {
        let bytes = codec
            .encode_graph_change(change)
            .expect("test changes encode");
        bus.publish(OutMessage::new(GRAPH_CHANGES_TOPIC, b"", &bytes))
            .await
            .expect("memory bus accepts");
    }
}

pub fn test_config(group: &str) -> WriterConfig {
    WriterConfig {
        batch_size: 100,
        batch_timeout_ms: 20,
        cleanup_batch: 2,
        group: group.to_owned(),
        max_backoff_ms: 50,
    }
}

/// Runs the writer over `bus` until its group has committed everything
/// published so far, then shuts it down.
pub async fn drain<S: Sink>(bus: &MemoryBus, sink: S, config: WriterConfig) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let group = config.group.clone();
    let task = tokio::spawn(run(
        config,
        infragraph_bus::TopicLayout::default(),
        bus.clone(),
        sink,
        async move {
            let _ = stopped.await;
        },
    ));
    while bus.lag(&group, GRAPH_CHANGES_TOPIC) > 0 || bus.is_empty(GRAPH_CHANGES_TOPIC) {
        assert!(!task.is_finished(), "writer ended early");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop.send(());
    task.await
        .expect("writer task")
        .expect("writer ran cleanly");
}

/// Publishes `changes` to a fresh bus and applies them all to `sink`.
pub async fn write<S: Sink>(sink: S, changes: &[GraphChange]) {
    let bus = MemoryBus::new();
    publish(&bus, changes).await;
    drain(&bus, sink, test_config("writer")).await;
}
