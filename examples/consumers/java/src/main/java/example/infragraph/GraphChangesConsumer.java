package example.infragraph;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Collectors;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.MissingSchemaException;
import org.apache.avro.message.SchemaStore;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Follows infragraph's graph changes and prints what appears on the network,
 * written from the contract in schemas/README.md alone.
 *
 * <p>Every message value is Avro single-object encoding (magic C3 01, the
 * writer schema's CRC-64-AVRO fingerprint little-endian, the binary body):
 * exactly what Avro's {@link BinaryMessageDecoder} reads. The writer schemas
 * come from the compacted {@code infragraph.schemas} topic (key: the
 * fingerprint in hex, value: the schema JSON) and, optionally, from .avsc
 * files; the decoder resolves each to the GraphChange schema this consumer was
 * built against (the {@code graph-change.avsc} resource).
 *
 * <p>Prints, tab-separated, the same lines as the Python consumer beside it:
 * {@code LISTEN endpoint host process name}, {@code CONNECT client-host
 * server-host endpoint client-process server-process}, and with --barriers
 * {@code SYNC source scope epoch status kind}.
 */
public final class GraphChangesConsumer {

    static final String USAGE = String.join("\n",
        "usage: GraphChangesConsumer [--bootstrap-servers HOST:PORT] [--topic-namespace NS]",
        "           [--offset earliest|latest|N] [--since UNIX_MS] [--group GROUP]",
        "           [--schema-dir DIR] [--reader-schema FILE] [--barriers] [--exit-at-end]",
        "           [--end-offsets P=O,...] [--timeout SECONDS] [-X key=value]...",
        "Defaults: KAFKA_BOOTSTRAP_SERVERS or localhost:9092; INFRAGRAPH_TOPIC_NAMESPACE or infragraph;",
        "--offset earliest; no group (nothing committed); the built-in graph-change.avsc.");

    public static void main(String[] argv) throws Exception {
        Options opts;
        try {
            opts = Options.parse(argv);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.err.println(USAGE);
            System.exit(2);
            return;
        }
        System.exit(run(opts));
    }

    static int run(Options opts) throws IOException {
        Properties conf = new Properties();
        conf.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, opts.bootstrap);
        conf.putAll(opts.extra);
        String topic = opts.namespace + ".graph.changes";

        Schema reader = opts.readerSchema != null
            ? new Schema.Parser().parse(Files.readString(Path.of(opts.readerSchema)))
            : builtInReader();
        SchemaStore.Cache store = new SchemaStore.Cache();
        if (opts.schemaDir != null) {
            try (DirectoryStream<Path> files = Files.newDirectoryStream(Path.of(opts.schemaDir), "*.avsc")) {
                for (Path f : files) {
                    store.addSchema(new Schema.Parser().parse(Files.readString(f)));
                }
            }
        }
        SchemaTopic schemas = new SchemaTopic(conf, opts.namespace + ".schemas", store);
        BinaryMessageDecoder<GenericRecord> decoder = new BinaryMessageDecoder<>(GenericData.get(), reader, store);

        Properties cc = new Properties();
        cc.putAll(conf);
        cc.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        cc.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        cc.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "latest".equals(opts.offset) ? "latest" : "earliest");
        if (opts.group != null) {
            cc.put(ConsumerConfig.GROUP_ID_CONFIG, opts.group);
            cc.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "true");
        } else {
            cc.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        }

        AtomicBoolean stopping = new AtomicBoolean();
        Topology topo = new Topology();
        long read = 0;
        long bad = 0;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(cc)) {
            Thread main = Thread.currentThread();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                stopping.set(true);
                consumer.wakeup();
                try {
                    main.join(5000);
                } catch (InterruptedException ignored) {
                    // exiting anyway
                }
            }));
            Map<TopicPartition, Long> limits = new HashMap<>(); // stop before, for --exit-at-end and --end-offsets
            Set<TopicPartition> pending = new HashSet<>();       // not yet read up to their limit
            if (opts.group != null) {
                consumer.subscribe(List.of(topic));
            } else {
                List<TopicPartition> parts = partitions(consumer, topic);
                if (opts.endOffsets != null) {
                    parts = parts.stream().filter(tp -> opts.endOffsets.containsKey(tp.partition())).toList();
                }
                consumer.assign(parts);
                seek(consumer, parts, opts);
                Map<TopicPartition, Long> high = consumer.endOffsets(parts);
                for (TopicPartition tp : parts) {
                    long limit = opts.endOffsets != null ? opts.endOffsets.get(tp.partition()) : high.get(tp);
                    limits.put(tp, limit);
                    if (limit > consumer.position(tp)) {
                        pending.add(tp);
                    }
                }
            }
            boolean bounded = opts.exitAtEnd || opts.endOffsets != null;
            long deadline = opts.timeoutSecs != null ? System.nanoTime() + (long) (opts.timeoutSecs * 1e9) : Long.MAX_VALUE;
            while (!stopping.get() && !(bounded && pending.isEmpty()) && System.nanoTime() < deadline) {
                ConsumerRecords<byte[], byte[]> batch;
                try {
                    batch = consumer.poll(Duration.ofMillis(500));
                } catch (WakeupException e) {
                    break;
                }
                if (batch.isEmpty()) {
                    // A partition whose last offsets hold no record we get
                    // (transaction markers) is done once its position passes them.
                    pending.removeIf(tp -> consumer.position(tp) >= limits.get(tp));
                    continue;
                }
                for (ConsumerRecord<byte[], byte[]> rec : batch) {
                    TopicPartition tp = new TopicPartition(rec.topic(), rec.partition());
                    Long limit = bounded ? limits.get(tp) : null;
                    if (limit != null && rec.offset() >= limit) {
                        continue; // past its limit, while other partitions are still read
                    }
                    if (limit != null && rec.offset() + 1 >= limit) {
                        pending.remove(tp);
                    }
                    read++;
                    GenericRecord gc;
                    try {
                        gc = decode(decoder, schemas, rec.value());
                    } catch (IOException | RuntimeException e) {
                        bad++;
                        System.err.printf("%s[%d]@%d: %s%n", rec.topic(), rec.partition(), rec.offset(), e);
                        continue;
                    }
                    GenericRecord change = (GenericRecord) gc.get("change");
                    switch (change.getSchema().getName()) {
                        case "NodeUpsert" -> topo.nodeUpsert((GenericRecord) change.get("node"), props(change));
                        case "EdgeUpsert" -> topo.edgeUpsert((GenericRecord) change.get("edge"));
                        case "Delete" -> topo.delete((GenericRecord) change.get("element"));
                        case "SyncBarrier" -> {
                            if (opts.barriers) {
                                Topology.emit("SYNC", str(change.get("source")), str(change.get("scope")),
                                    str(change.get("epoch")), str(change.get("status")),
                                    change.getSchema().getField("kind") != null ? str(change.get("kind")) : "");
                            }
                        }
                        default -> { } // Touch: seen unchanged, nothing new
                    }
                }
            }
        }
        System.err.printf("read %d graph changes, %d undecodable%n", read, bad);
        return bad > 0 ? 1 : 0;
    }

    /** One message, with one re-read of the schemas topic for a writer newer than what we hold. */
    static GenericRecord decode(BinaryMessageDecoder<GenericRecord> decoder, SchemaTopic schemas, byte[] value) throws IOException {
        if (value == null) {
            throw new IOException("null value");
        }
        try {
            return decoder.decode(value);
        } catch (MissingSchemaException e) {
            if (!schemas.reload()) {
                throw e;
            }
            return decoder.decode(value);
        }
    }

    static Schema builtInReader() throws IOException {
        try (InputStream in = GraphChangesConsumer.class.getResourceAsStream("/graph-change.avsc")) {
            if (in == null) {
                throw new IOException("graph-change.avsc is not on the classpath; pass --reader-schema");
            }
            return new Schema.Parser().parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        }
    }

    static List<TopicPartition> partitions(KafkaConsumer<?, ?> consumer, String topic) {
        List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(10));
        if (infos == null || infos.isEmpty()) {
            System.err.println("topic " + topic + " not found on the cluster");
            System.exit(1);
        }
        return infos.stream().map(p -> new TopicPartition(topic, p.partition()))
            .sorted((a, b) -> Integer.compare(a.partition(), b.partition())).collect(Collectors.toList());
    }

    static void seek(KafkaConsumer<?, ?> consumer, List<TopicPartition> parts, Options opts) {
        if (opts.since != null) {
            Map<TopicPartition, Long> query = new HashMap<>();
            parts.forEach(tp -> query.put(tp, opts.since));
            Map<TopicPartition, OffsetAndTimestamp> found = consumer.offsetsForTimes(query);
            List<TopicPartition> none = new ArrayList<>();
            for (TopicPartition tp : parts) {
                OffsetAndTimestamp at = found.get(tp);
                if (at == null) {
                    none.add(tp); // nothing at or after that time: start at the end
                } else {
                    consumer.seek(tp, at.offset());
                }
            }
            consumer.seekToEnd(none);
        } else if ("earliest".equals(opts.offset)) {
            consumer.seekToBeginning(parts);
        } else if ("latest".equals(opts.offset)) {
            consumer.seekToEnd(parts);
        } else {
            long offset = Long.parseLong(opts.offset);
            parts.forEach(tp -> consumer.seek(tp, offset));
        }
    }

    static Map<String, Object> props(GenericRecord change) {
        Map<String, Object> out = new HashMap<>();
        Object raw = change.get("properties");
        if (raw instanceof Map<?, ?> m) {
            m.forEach((k, v) -> out.put(k.toString(), v));
        }
        return out;
    }

    static String str(Object o) {
        return o == null ? "" : o.toString();
    }

    /** The writer schemas on the compacted schemas topic, read start to end into the decoder's store. */
    static final class SchemaTopic {
        final Properties conf;
        final String topic;
        final SchemaStore.Cache store;
        long loadedAt = Long.MIN_VALUE / 2;

        SchemaTopic(Properties conf, String topic, SchemaStore.Cache store) {
            this.conf = conf;
            this.topic = topic;
            this.store = store;
            reload();
        }

        /** False when the topic was read less than 10 s ago (nothing new to learn). */
        boolean reload() {
            if (System.nanoTime() - loadedAt < 10_000_000_000L) {
                return false;
            }
            loadedAt = System.nanoTime();
            Properties cc = new Properties();
            cc.putAll(conf);
            cc.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            cc.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
            cc.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(cc)) {
                List<PartitionInfo> infos = c.partitionsFor(topic, Duration.ofSeconds(10));
                if (infos == null || infos.isEmpty()) {
                    return false;
                }
                List<TopicPartition> parts = infos.stream().map(p -> new TopicPartition(topic, p.partition())).toList();
                c.assign(parts);
                c.seekToBeginning(parts);
                Map<TopicPartition, Long> ends = new HashMap<>(c.endOffsets(parts));
                ends.entrySet().removeIf(e -> e.getValue() <= c.position(e.getKey()));
                long deadline = System.nanoTime() + 30_000_000_000L;
                while (!ends.isEmpty() && System.nanoTime() < deadline) {
                    for (ConsumerRecord<byte[], byte[]> rec : c.poll(Duration.ofMillis(500))) {
                        if (rec.value() != null) { // null: a compaction tombstone
                            try {
                                store.addSchema(new Schema.Parser().parse(new String(rec.value(), StandardCharsets.UTF_8)));
                            } catch (RuntimeException e) {
                                System.err.println("skipping schema " + new String(rec.key(), StandardCharsets.UTF_8) + ": " + e);
                            }
                        }
                        TopicPartition tp = new TopicPartition(rec.topic(), rec.partition());
                        if (ends.containsKey(tp) && rec.offset() + 1 >= ends.get(tp)) {
                            ends.remove(tp);
                        }
                    }
                }
            }
            return true;
        }
    }

    /** Just enough of the graph to tell what is new; the same rules as the Python consumer. */
    static final class Topology {
        final Map<String, String> hosts = new HashMap<>();
        final Map<String, String> names = new HashMap<>();
        final Map<String, Set<String>> listeners = new HashMap<>();
        final Map<String, Set<String>> clients = new HashMap<>();
        final Set<List<String>> printed = new HashSet<>();

        static void emit(String... fields) {
            System.out.println(String.join("\t", fields));
            System.out.flush();
        }

        /** The process's host_id property or RUNS_ON target; else the host part of its id. */
        String host(String process) {
            String h = hosts.get(process);
            if (h != null && !h.isEmpty()) {
                return h;
            }
            int slash = process.indexOf('/');
            return slash < 0 ? process : process.substring(0, slash);
        }

        void nodeUpsert(GenericRecord node, Map<String, Object> props) {
            if ("Process".equals(str(node.get("label")))) {
                String id = str(node.get("id"));
                Object host = props.get("host_id");
                if (host != null && !host.toString().isEmpty()) {
                    hosts.put(id, host.toString());
                }
                Object name = props.get("name");
                if (name != null && !name.toString().isEmpty()) {
                    names.put(id, name.toString());
                }
            }
        }

        void edgeUpsert(GenericRecord edge) {
            String rel = str(edge.get("type"));
            String src = str(((GenericRecord) edge.get("from")).get("id"));
            String dst = str(((GenericRecord) edge.get("to")).get("id"));
            switch (rel) {
                case "RUNS_ON" -> hosts.put(src, dst);
                case "LISTENS_ON" -> {
                    if (listeners.computeIfAbsent(dst, k -> new HashSet<>()).add(src)) {
                        emit("LISTEN", dst, host(src), src, names.getOrDefault(src, ""));
                        for (String client : new TreeSet<>(clients.getOrDefault(dst, Set.of()))) {
                            connect(client, dst, src);
                        }
                    }
                }
                case "CONNECTS_TO" -> {
                    if (clients.computeIfAbsent(dst, k -> new HashSet<>()).add(src)) {
                        for (String server : new TreeSet<>(listeners.getOrDefault(dst, Set.of()))) {
                            connect(src, dst, server);
                        }
                    }
                }
                default -> { }
            }
        }

        void connect(String client, String endpoint, String server) {
            String clientHost = host(client);
            String serverHost = host(server);
            if (!Objects.equals(clientHost, serverHost) && printed.add(List.of(client, endpoint, serverHost))) {
                emit("CONNECT", clientHost, serverHost, endpoint, client, server);
            }
        }

        void delete(GenericRecord element) {
            if (!"EdgeRef".equals(element.getSchema().getName())) {
                return;
            }
            String rel = str(element.get("type"));
            String src = str(((GenericRecord) element.get("from")).get("id"));
            String dst = str(((GenericRecord) element.get("to")).get("id"));
            if ("LISTENS_ON".equals(rel)) {
                listeners.getOrDefault(dst, new HashSet<>()).remove(src);
                printed.removeIf(k -> k.get(1).equals(dst));
            } else if ("CONNECTS_TO".equals(rel)) {
                clients.getOrDefault(dst, new HashSet<>()).remove(src);
                printed.removeIf(k -> k.get(0).equals(src) && k.get(1).equals(dst));
            }
        }
    }

    /** Command-line options, mirroring the Python consumer's. */
    static final class Options {
        String bootstrap = envOr("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092");
        String namespace = envOr("INFRAGRAPH_TOPIC_NAMESPACE", "infragraph");
        String offset = envOr("START_OFFSET", "earliest");
        Long since;
        String group = System.getenv("CONSUMER_GROUP");
        String schemaDir;
        String readerSchema;
        boolean barriers;
        boolean exitAtEnd;
        Double timeoutSecs;
        Map<Integer, Long> endOffsets;
        final Map<String, String> extra = new HashMap<>();

        static String envOr(String name, String dflt) {
            String v = System.getenv(name);
            return v == null || v.isEmpty() ? dflt : v;
        }

        static Options parse(String[] argv) {
            Options o = new Options();
            for (int i = 0; i < argv.length; i++) {
                String a = argv[i];
                switch (a) {
                    case "--bootstrap-servers" -> o.bootstrap = value(argv, ++i, a);
                    case "--topic-namespace" -> o.namespace = value(argv, ++i, a);
                    case "--offset" -> o.offset = value(argv, ++i, a);
                    case "--since" -> o.since = Long.parseLong(value(argv, ++i, a));
                    case "--group" -> o.group = value(argv, ++i, a);
                    case "--schema-dir" -> o.schemaDir = value(argv, ++i, a);
                    case "--reader-schema" -> o.readerSchema = value(argv, ++i, a);
                    case "--barriers" -> o.barriers = true;
                    case "--exit-at-end" -> o.exitAtEnd = true;
                    case "--timeout" -> o.timeoutSecs = Double.parseDouble(value(argv, ++i, a));
                    case "--end-offsets" -> {
                        o.endOffsets = new HashMap<>();
                        for (String kv : value(argv, ++i, a).split(",")) {
                            String[] pair = kv.split("=", 2);
                            if (pair.length != 2) {
                                throw new IllegalArgumentException("--end-offsets wants P=O,..., got " + kv);
                            }
                            o.endOffsets.put(Integer.parseInt(pair[0].trim()), Long.parseLong(pair[1].trim()));
                        }
                    }
                    case "-X" -> {
                        String kv = value(argv, ++i, a);
                        int eq = kv.indexOf('=');
                        if (eq < 1) {
                            throw new IllegalArgumentException("-X wants key=value, got " + kv);
                        }
                        o.extra.put(kv.substring(0, eq), kv.substring(eq + 1));
                    }
                    case "-h", "--help" -> {
                        System.out.println(USAGE);
                        System.exit(0);
                    }
                    default -> throw new IllegalArgumentException("unknown argument " + a);
                }
            }
            if (!o.offset.equals("earliest") && !o.offset.equals("latest")) {
                try {
                    Long.parseLong(o.offset);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("--offset wants earliest, latest or a number, got " + o.offset);
                }
            }
            if (o.group != null && (o.exitAtEnd || o.endOffsets != null || o.since != null || !(o.offset.equals("earliest") || o.offset.equals("latest")))) {
                throw new IllegalArgumentException("with --group the group's offsets decide where to start: use --offset earliest|latest only");
            }
            return o;
        }

        static String value(String[] argv, int i, String flag) {
            if (i >= argv.length) {
                throw new IllegalArgumentException(flag + " needs a value");
            }
            return argv[i];
        }
    }

    private GraphChangesConsumer() {
    }
}
