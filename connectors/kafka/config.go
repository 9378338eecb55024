// Package kafka is wasmstream's Kafka source and sink, on the franz-go
// client.
//
// The source reads topics (or topics matching a regular expression) in a
// consumer group or from partitions it assigns itself, every partition in
// parallel. Its offsets live in the pipeline's checkpoint when the
// pipeline checkpoints, and are committed to the group only when a
// checkpoint completes; otherwise they are committed to the group as the
// records are written, gapless per partition (at-least-once).
//
// The sink writes with the idempotent producer and acks=all by default
// (at-least-once), or, with delivery: exactly_once, in Kafka transactions
// tied to the pipeline's checkpoints: records written between two
// checkpoints form one transaction, committed once the checkpoint holding
// it is durable. docs/connectors.md has the guarantees table.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/wasmstream/wasmstream/connectors/kit"
	"github.com/wasmstream/wasmstream/runtime"
)

// Register adds the kafka source and sink to r.
func Register(r *runtime.Registry) {
	runtime.AddSource(r, "kafka", "Reads Kafka topics in a consumer group or from assigned partitions, every partition in parallel; offsets are kept in the pipeline's checkpoint (exact with keyed state) or committed to the group once records are written (at-least-once).",
		func(c *SourceConfig) (runtime.Source, error) { return NewSource(c) })
	runtime.AddSink(r, "kafka", "Writes records to a Kafka topic with the idempotent producer (at-least-once), or in transactions committed with the pipeline's checkpoints (exactly-once).",
		func(c *SinkConfig) (runtime.Sink, error) { return NewSink(c) })
}

// Connection is what the source and the sink share: where the cluster is
// and how to reach it.
type Connection struct {
	Brokers        []string      `yaml:"brokers" required:"true" doc:"Seed brokers, as host:port; the client learns the rest of the cluster from them."`
	ClientID       string        `yaml:"client_id" default:"wasmstream" doc:"The client id the brokers see (in their logs and quotas)."`
	TLS            kit.TLS       `yaml:"tls" doc:"TLS to the brokers."`
	SASL           kit.SASL      `yaml:"sasl" doc:"SASL authentication (plain, scram-sha-256, scram-sha-512, oauthbearer)."`
	ConnectTimeout time.Duration `yaml:"connect_timeout" default:"30s" doc:"How long Open waits for the cluster to answer before it fails, naming the brokers."`
}

func (c *Connection) validate() []error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, runtime.FieldErr("brokers", "must list at least one broker"))
	}
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			errs = append(errs, runtime.FieldErr("brokers", "%q is not host:port", b))
		}
	}
	if c.ConnectTimeout <= 0 {
		errs = append(errs, runtime.FieldErr("connect_timeout", "must be positive"))
	}
	if err := c.TLS.Validate(); err != nil {
		errs = append(errs, kit.Under("tls", err))
	}
	if err := c.SASL.Validate(); err != nil {
		errs = append(errs, kit.Under("sasl", err))
	}
	return errs
}

// opts returns the client options of the connection.
func (c *Connection) opts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...), kgo.ClientID(c.ClientID)}
	tc, err := c.TLS.Config()
	if err != nil {
		return nil, err
	}
	if tc != nil {
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if m := c.mechanism(); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

func (c *Connection) mechanism() sasl.Mechanism {
	s := c.SASL
	switch s.Effective() {
	case kit.MechanismPlain:
		return plain.Auth{User: s.Username, Pass: s.Password.Reveal()}.AsMechanism()
	case kit.MechanismSCRAMSHA256:
		return scram.Auth{User: s.Username, Pass: s.Password.Reveal()}.AsSha256Mechanism()
	case kit.MechanismSCRAMSHA512:
		return scram.Auth{User: s.Username, Pass: s.Password.Reveal()}.AsSha512Mechanism()
	case kit.MechanismOAuthBearer:
		return oauth.Auth{Token: s.Token.Reveal()}.AsMechanism()
	}
	return nil
}

func (c *Connection) where() string { return strings.Join(c.Brokers, ",") }

// dial returns the connection's client options and a client on them that
// the cluster has answered (see ping), for what ("source", "sink").
func (c *Connection) dial(ctx context.Context, what string, log *slog.Logger) ([]kgo.Opt, *kgo.Client, error) {
	opts, err := c.opts()
	if err != nil {
		return nil, nil, err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("kafka %s: %w", what, err)
	}
	if err := c.ping(ctx, cl, what, log); err != nil {
		cl.Close()
		return nil, nil, err
	}
	return opts, cl, nil
}

// ping waits until the cluster answers a metadata request, retrying with
// backoff and jitter for up to ConnectTimeout, so that a wrong address or
// wrong credentials fail Open with a clear error instead of a source that
// never reads.
func (c *Connection) ping(ctx context.Context, cl *kgo.Client, what string, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, c.ConnectTimeout)
	defer cancel()
	b := kit.Backoff{Initial: 100 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2, Jitter: 0.5}
	err := kit.Connect(ctx, b, log, "kafka "+what+" brokers "+c.where(), func(ctx context.Context) error {
		err := cl.Ping(ctx)
		if err != nil && isAuthError(err) {
			return kit.Permanent(err)
		}
		return err
	})
	switch {
	case err == nil:
		return nil
	case isAuthError(err):
		return fmt.Errorf("kafka %s: brokers %s refused the credentials: %w", what, c.where(), err)
	default:
		return fmt.Errorf("kafka %s: brokers %s did not answer within %v: %w", what, c.where(), c.ConnectTimeout, err)
	}
}

func isAuthError(err error) bool {
	var te *tls.CertificateVerificationError
	return errors.As(err, &te) || strings.Contains(err.Error(), "SASL") || strings.Contains(err.Error(), "sasl")
}

// SourceConfig configures the Kafka source.
type SourceConfig struct {
	Connection      `yaml:",inline"`
	Topics          []string         `yaml:"topics" required:"true" doc:"Topics to read; with regex: true, regular expressions a topic name must match (anchored)."`
	Regex           bool             `yaml:"regex" doc:"Treat topics as regular expressions. In a group, topics created later that match are picked up at the next metadata refresh."`
	Group           string           `yaml:"group" doc:"Consumer group to join: the group assigns partitions, rebalancing as members come and go. Without a group the source reads every partition of its topics (or those listed in partitions) itself."`
	Partitions      []int32          `yaml:"partitions" doc:"Without a group: read only these partitions of each topic (default all)."`
	Start           string           `yaml:"start" default:"committed" oneof:"committed|earliest|latest|timestamp" doc:"Where to start a partition that has no position in the pipeline's checkpoint: the group's committed offset (falling back to reset), the earliest or latest offset, or the first offset at or after start_timestamp. A position in the checkpoint always wins."`
	Reset           string           `yaml:"reset" default:"earliest" oneof:"earliest|latest" doc:"With start: committed, where to start a partition the group has no offset for."`
	StartTimestamp  string           `yaml:"start_timestamp" doc:"With start: timestamp, an RFC 3339 time."`
	Isolation       string           `yaml:"isolation" default:"read_committed" oneof:"read_committed|read_uncommitted" doc:"read_committed returns only records of committed transactions (and non-transactional ones); read_uncommitted returns aborted ones too."`
	FetchMaxBytes   runtime.ByteSize `yaml:"fetch_max_bytes" default:"16MiB" doc:"Most bytes one fetch from a broker returns (a bound on what the client buffers per broker)."`
	PartitionBytes  runtime.ByteSize `yaml:"partition_fetch_max_bytes" default:"1MiB" doc:"Most bytes one fetch returns per partition."`
	CommitInterval  time.Duration    `yaml:"commit_interval" default:"1s" doc:"Without checkpoints, how often written records' offsets are committed to the group (also on a rebalance and at close)."`
	MetadataHeaders bool             `yaml:"metadata_headers" doc:"Add kafka_topic, kafka_partition and kafka_offset headers to each record."`
	MetadataMaxAge  time.Duration    `yaml:"metadata_max_age" default:"1m" doc:"How often the client refreshes metadata (and with regex, looks for new matching topics)."`
	InstanceID      string           `yaml:"instance_id" doc:"In a group, a static member id (KIP-345): a member restarted with the same id takes its partitions back without a rebalance, as long as it returns within session_timeout. Unique per running pipeline."`
	SessionTimeout  time.Duration    `yaml:"session_timeout" default:"45s" doc:"In a group, how long the group waits for a silent member (a crashed process) before giving its partitions to others."`

	startAt time.Time
}

// Validate reports every problem of the config.
func (c *SourceConfig) Validate() error {
	errs := c.Connection.validate()
	if len(c.Topics) == 0 {
		errs = append(errs, runtime.FieldErr("topics", "must list at least one topic"))
	}
	if c.Regex {
		for _, t := range c.Topics {
			if _, err := regexp.Compile(t); err != nil {
				errs = append(errs, runtime.FieldErr("topics", "%q is not a regular expression: %v", t, err))
			}
		}
	}
	if c.Group != "" && len(c.Partitions) > 0 {
		errs = append(errs, runtime.FieldErr("partitions", "cannot be given with a group: the group assigns partitions"))
	}
	if c.Regex && c.Group == "" && len(c.Partitions) > 0 {
		errs = append(errs, runtime.FieldErr("partitions", "cannot be given with regex topics"))
	}
	if c.Start == "timestamp" {
		t, err := time.Parse(time.RFC3339Nano, c.StartTimestamp)
		if err != nil {
			errs = append(errs, runtime.FieldErr("start_timestamp", "must be an RFC 3339 time with start: timestamp: %v", err))
		}
		c.startAt = t
	} else if c.StartTimestamp != "" {
		errs = append(errs, runtime.FieldErr("start_timestamp", "is only used with start: timestamp"))
	}
	if c.FetchMaxBytes < 1<<10 || c.PartitionBytes < 1<<10 {
		errs = append(errs, runtime.FieldErr("fetch_max_bytes", "fetch_max_bytes and partition_fetch_max_bytes must be at least 1KiB"))
	}
	if c.CommitInterval <= 0 {
		errs = append(errs, runtime.FieldErr("commit_interval", "must be positive"))
	}
	if c.InstanceID != "" && c.Group == "" {
		errs = append(errs, runtime.FieldErr("instance_id", "is only used with a group"))
	}
	if c.SessionTimeout < time.Second {
		errs = append(errs, runtime.FieldErr("session_timeout", "must be at least 1s"))
	}
	if c.MetadataMaxAge < time.Second {
		errs = append(errs, runtime.FieldErr("metadata_max_age", "must be at least 1s"))
	}
	return errors.Join(errs...)
}

// SinkConfig configures the Kafka sink.
type SinkConfig struct {
	Connection         `yaml:",inline"`
	Topic              string           `yaml:"topic" required:"true" doc:"Topic to write to."`
	Partitioner        string           `yaml:"partitioner" default:"key" oneof:"key|round_robin|header" doc:"key: by the murmur2 hash of the record key, as the Java client does (records without a key spread over partitions); round_robin; header: the partition number in the header named by partition_header."`
	PartitionHeader    string           `yaml:"partition_header" default:"kafka_partition" doc:"With partitioner: header, the header holding the partition number, in decimal."`
	Compression        string           `yaml:"compression" default:"none" oneof:"none|gzip|snappy|lz4|zstd" doc:"Compression of record batches."`
	Acks               string           `yaml:"acks" default:"all" oneof:"all|leader|none" doc:"Acknowledgement the producer waits for. all (with the idempotent producer) loses nothing a broker acknowledged; leader and none can lose records on a leader change and turn idempotence off."`
	Idempotent         bool             `yaml:"idempotent" default:"true" doc:"Use the idempotent producer: a retried batch is not written twice. Needs acks: all."`
	Delivery           string           `yaml:"delivery" default:"at_least_once" oneof:"at_least_once|exactly_once" doc:"at_least_once: a batch counts as written once the brokers acknowledged it. exactly_once: records go in a transaction committed with each checkpoint; read_committed consumers see every record once, after the checkpoint that holds it."`
	TransactionalID    string           `yaml:"transactional_id" doc:"With exactly_once, the transactional id (default wasmstream-<pipeline>-<component>). It must be unique among the producers of the cluster: two running pipelines with one id fence each other. It is reused for every checkpoint."`
	TransactionTimeout time.Duration    `yaml:"transaction_timeout" default:"10m" doc:"With exactly_once, how long the broker keeps a transaction open before aborting it. It must exceed the checkpoint interval plus the longest time the pipeline may be down between a checkpoint and its commit (a restart), and not exceed the broker's transaction.max.timeout.ms, which Open checks."`
	MaxBufferedRecords int              `yaml:"max_buffered_records" default:"10000" doc:"Most records the producer buffers, unacknowledged."`
	MaxBufferedBytes   runtime.ByteSize `yaml:"max_buffered_bytes" default:"64MiB" doc:"Most bytes the producer buffers, unacknowledged."`
	DeliveryTimeout    time.Duration    `yaml:"delivery_timeout" default:"2m" doc:"How long the producer retries a record before Write reports it failed (the runtime then retries the write, or applies on_error)."`
	Linger             time.Duration    `yaml:"linger" default:"0s" doc:"How long the producer waits to fill a batch for a partition."`
}

// Validate reports every problem of the config.
func (c *SinkConfig) Validate() error {
	errs := c.Connection.validate()
	if c.Topic == "" {
		errs = append(errs, runtime.FieldErr("topic", "must not be empty"))
	}
	if c.Partitioner == "header" && c.PartitionHeader == "" {
		errs = append(errs, runtime.FieldErr("partition_header", "must be set with partitioner: header"))
	}
	if c.Idempotent && c.Acks != "all" {
		errs = append(errs, runtime.FieldErr("idempotent", "needs acks: all (set idempotent: false to use acks: %s)", c.Acks))
	}
	if c.Delivery == "exactly_once" {
		if c.Acks != "all" || !c.Idempotent {
			errs = append(errs, runtime.FieldErr("delivery", "exactly_once needs acks: all and idempotent: true"))
		}
		if c.TransactionTimeout < time.Second {
			errs = append(errs, runtime.FieldErr("transaction_timeout", "must be at least 1s"))
		}
	}
	if c.MaxBufferedRecords < 1 {
		errs = append(errs, runtime.FieldErr("max_buffered_records", "must be at least 1"))
	}
	if c.MaxBufferedBytes < 1<<10 {
		errs = append(errs, runtime.FieldErr("max_buffered_bytes", "must be at least 1KiB"))
	}
	if c.DeliveryTimeout < time.Second {
		errs = append(errs, runtime.FieldErr("delivery_timeout", "must be at least 1s"))
	}
	if c.Linger < 0 {
		errs = append(errs, runtime.FieldErr("linger", "must not be negative"))
	}
	return errors.Join(errs...)
}

// Endpoints implements runtime.Endpointer: the seed brokers.
func (c *Connection) Endpoints() []string { return c.Brokers }
