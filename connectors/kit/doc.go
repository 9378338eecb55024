// Package kit holds the building blocks every connector needs: backoff
// with jitter (Backoff), a retry policy that honours throttling (Retry,
// Permanent, Throttled, ClassifyHTTP), connecting with backoff (Connect),
// and config blocks for TLS, SASL credentials and secrets (TLS, SASL,
// Secret).
//
// The config blocks carry confyaml tags (yaml, default, oneof, doc), so a
// connector embeds them in its config struct, inline or as a sub-block:
//
//	type SinkConfig struct {
//		URL   string     `yaml:"url" required:"true" doc:"..."`
//		TLS   kit.TLS    `yaml:"tls" doc:"TLS settings."`
//		Auth  kit.SASL   `yaml:"sasl" doc:"Authentication."`
//		Retry kit.Retry  `yaml:"retry" doc:"Retries of failed requests."`
//	}
//
// The runtime calls only the top-level config's Validate; a connector's
// Validate calls the blocks' Validate methods and points their field
// errors at the sub-block with Under.
//
// Values of these types are plain data: safe to copy, and safe for
// concurrent use as long as nobody changes them.
package kit
