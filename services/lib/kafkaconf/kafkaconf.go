// Package kafkaconf holds the Kafka settings every service shares (brokers,
// topic names, TLS and SASL) and turns them into kafka-go dialers and
// transports, so no service spells a topic name or a security option itself.
package kafkaconf

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"logpipe/lib/envflag"
)

// Config addresses the Kafka cluster and names the topics.
type Config struct {
	// Brokers are the bootstrap brokers, comma-separated in flags (default 127.0.0.1:9092).
	Brokers []string
	// LogsTopic carries log events (default logpipe.logs).
	LogsTopic string
	// FeedbackTopic carries feedback (default logpipe.feedback).
	FeedbackTopic string
	// DeadLetterTopic receives undecodable or invalid messages (default logpipe.logs.dlq).
	DeadLetterTopic string
	// TLS enables TLS to the brokers (default false).
	TLS bool
	// SASLMechanism is "", "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512" (default "").
	SASLMechanism string
	SASLUser      string
	SASLPassword  string
}

// RegisterFlags defines the shared Kafka flags on fs, filling cfg when parsed.
func RegisterFlags(fs *envflag.Set, cfg *Config) func() {
	var brokers string
	fs.String(&brokers, "kafka-brokers", "LOGPIPE_KAFKA_BROKERS", "127.0.0.1:9092", "Kafka bootstrap brokers, comma-separated")
	fs.String(&cfg.LogsTopic, "logs-topic", "LOGPIPE_LOGS_TOPIC", "logpipe.logs", "Kafka topic of log events")
	fs.String(&cfg.FeedbackTopic, "feedback-topic", "LOGPIPE_FEEDBACK_TOPIC", "logpipe.feedback", "Kafka topic of feedback")
	fs.String(&cfg.DeadLetterTopic, "dead-letter-topic", "LOGPIPE_DLQ_TOPIC", "logpipe.logs.dlq", "Kafka dead-letter topic")
	fs.Bool(&cfg.TLS, "kafka-tls", "LOGPIPE_KAFKA_TLS", false, "connect to Kafka with TLS")
	fs.String(&cfg.SASLMechanism, "kafka-sasl-mechanism", "LOGPIPE_KAFKA_SASL_MECHANISM", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (empty: none)")
	fs.String(&cfg.SASLUser, "kafka-sasl-user", "LOGPIPE_KAFKA_SASL_USER", "", "SASL user")
	fs.String(&cfg.SASLPassword, "kafka-sasl-password", "LOGPIPE_KAFKA_SASL_PASSWORD", "", "SASL password")
	// The returned func finishes the fields that need parsing; call it after fs.Parse.
	return func() {
		cfg.Brokers = nil
		for _, b := range strings.Split(brokers, ",") {
			if b = strings.TrimSpace(b); b != "" {
				cfg.Brokers = append(cfg.Brokers, b)
			}
		}
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return fmt.Errorf("kafka: no brokers configured")
	}
	if c.LogsTopic == "" {
		return fmt.Errorf("kafka: the logs topic is empty")
	}
	_, err := c.mechanism()
	return err
}

func (c Config) mechanism() (sasl.Mechanism, error) {
	switch c.SASLMechanism {
	case "":
		return nil, nil
	case "PLAIN":
		return plain.Mechanism{Username: c.SASLUser, Password: c.SASLPassword}, nil
	case "SCRAM-SHA-256":
		return scram.Mechanism(scram.SHA256, c.SASLUser, c.SASLPassword)
	case "SCRAM-SHA-512":
		return scram.Mechanism(scram.SHA512, c.SASLUser, c.SASLPassword)
	}
	return nil, fmt.Errorf("kafka: unknown SASL mechanism %q", c.SASLMechanism)
}

func (c Config) tlsConfig() *tls.Config {
	if !c.TLS {
		return nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12}
}

// Transport returns a kafka-go transport for Writers and Clients.
func (c Config) Transport() *kafka.Transport {
	m, _ := c.mechanism() // checked by Validate
	return &kafka.Transport{TLS: c.tlsConfig(), SASL: m, DialTimeout: 5 * time.Second}
}

// Dialer returns a kafka-go dialer for Readers and Conns.
func (c Config) Dialer() *kafka.Dialer {
	m, _ := c.mechanism()
	return &kafka.Dialer{Timeout: 5 * time.Second, DualStack: true, TLS: c.tlsConfig(), SASLMechanism: m}
}
