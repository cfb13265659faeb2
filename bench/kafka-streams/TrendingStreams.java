// edm-trending's windows in Kafka Streams itself, for the bench's side by
// side comparison (./edm bench trending): clicks read from
// <prefix>edm-ui-click, their event time taken from event_timestamp,
// repartitioned by product (properties.button_id), and counted per product
// in 1-minute tumbling and 5-minute hopping (1-minute advance) windows with
// 60 s of grace, in in-memory window stores, exactly_once_v2, committing
// every 100 ms, fetching up to 4 MiB a partition and compressing with LZ4
// as edm-trending does. No top-N step: the counts are the comparison's
// work.
//
// Usage: java TrendingStreams BOOTSTRAP PREFIX CLICKS
// Prints "counted <fraction> <ms since start>" as the window stage passes
// 10 %, 90 % and 100 % of CLICKS, then exits.

import java.time.Duration;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KGroupedStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.TimestampExtractor;
import org.apache.kafka.streams.state.Stores;

public final class TrendingStreams {
    private static final Pattern BUTTON = Pattern.compile("\"button_id\"\\s*:\\s*\"([^\"]*)\"");
    private static final Pattern TIME = Pattern.compile("\"event_timestamp\"\\s*:\\s*(\\d+)");

    /** The click's event time, as edm-trending takes it (its record time otherwise). */
    static final class EventTime implements TimestampExtractor {
        @Override
        public long extract(ConsumerRecord<Object, Object> record, long partitionTime) {
            Object value = record.value();
            if (value instanceof String) {
                Matcher m = TIME.matcher((String) value);
                if (m.find()) {
                    return Long.parseLong(m.group(1));
                }
            }
            return record.timestamp();
        }
    }

    private static String buttonId(String value) {
        Matcher m = BUTTON.matcher(value == null ? "" : value);
        return m.find() ? m.group(1) : null;
    }

    public static void main(String[] args) throws InterruptedException {
        long started = System.nanoTime();
        String bootstrap = args[0];
        String prefix = args[1];
        long clicks = Long.parseLong(args[2]);

        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, prefix + "kafka-streams-trending");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
        props.put(StreamsConfig.producerPrefix(ProducerConfig.COMPRESSION_TYPE_CONFIG), "lz4");
        props.put("consumer.auto.offset.reset", "earliest");
        // Fetches as large as edm-trending's (EDM_TRENDING_FETCH_PARTITION_KB's default).
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG), 4 * 1024 * 1024);

        AtomicLong counted = new AtomicLong();
        StreamsBuilder builder = new StreamsBuilder();
        KGroupedStream<String, String> byProduct = builder
            .stream(prefix + "edm-ui-click",
                Consumed.with(Serdes.String(), Serdes.String()).withTimestampExtractor(new EventTime()))
            .selectKey((key, value) -> buttonId(value))
            .filter((product, value) -> product != null)
            .repartition(Repartitioned.with(Serdes.String(), Serdes.String()).withName("clicks-by-product"))
            // The window stage: every click passes here once, after the repartition.
            .peek((product, value) -> report(counted.incrementAndGet(), clicks, started))
            .groupByKey(Grouped.with(Serdes.String(), Serdes.String()));
        Duration grace = Duration.ofSeconds(60);
        byProduct
            .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMinutes(1), grace))
            .count(Materialized.<String, Long>as(Stores.inMemoryWindowStore("counts-1m",
                Duration.ofMinutes(20), Duration.ofMinutes(1), false)));
        byProduct
            .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMinutes(5), grace)
                .advanceBy(Duration.ofMinutes(1)))
            .count(Materialized.<String, Long>as(Stores.inMemoryWindowStore("counts-5m",
                Duration.ofMinutes(20), Duration.ofMinutes(5), false)));

        KafkaStreams streams = new KafkaStreams(builder.build(), props);
        streams.start();
        while (counted.get() < clicks) {
            Thread.sleep(20);
        }
        streams.close(Duration.ofSeconds(30));
        System.exit(0);
    }

    /** Prints when the window stage passes 10 %, 90 % and 100 % of the clicks. */
    private static void report(long n, long clicks, long started) {
        for (long[] mark : new long[][] {{1, 10}, {9, 10}, {1, 1}}) {
            if (n == clicks * mark[0] / mark[1]) {
                long ms = (System.nanoTime() - started) / 1_000_000;
                System.out.printf("counted %d/%d %d%n", mark[0], mark[1], ms);
                System.out.flush();
            }
        }
    }
}
