package file

import (
	"errors"
	"path/filepath"
	"strings"
	"time"

	"github.com/wasmstream/wasmstream/connectors/internal/lines"
	"github.com/wasmstream/wasmstream/runtime"
)

// SourceConfig configures the file source. Give path or dir.
type SourceConfig struct {
	Path           string           `yaml:"path" path:"file" doc:"A file to read to its end; the source then ends. On restart it resumes after the last acknowledged record, so data appended meanwhile is read too. A file replaced under the path (another inode, as after a rotation) or shorter than the committed offset is read from the start, with a warning; a file truncated while being read stops the source with an error. A last line without a newline is emitted but committed only up to its start, so once the writer finishes it the next run emits the whole line again. Give path or dir."`
	Dir            string           `yaml:"dir" path:"dir" doc:"A directory whose files are each read once, in order of modification time then name. Names starting with '.' or '_' are skipped, as are subdirectories. Files must not change once they are older than min_age."`
	Pattern        string           `yaml:"pattern" default:"*" doc:"Glob (path.Match syntax) that file names in dir must match, such as *.jsonl."`
	Watch          bool             `yaml:"watch" default:"true" doc:"With dir: keep polling for new files forever. false reads the files present (waiting for those younger than min_age) and then ends."`
	PollInterval   time.Duration    `yaml:"poll_interval" default:"1s" doc:"With dir: how often the directory is listed for new files."`
	MinAge         time.Duration    `yaml:"min_age" default:"1s" doc:"With dir: a file is read only once its modification time is at least this old, so a file still being written is not read half-way."`
	Format         string           `yaml:"format" default:"lines" oneof:"lines|json|raw" doc:"lines: one record per line (\\n or \\r\\n; the last line needs no newline). json: one JSON document per line, validated; blank lines are skipped. raw: the whole file is one record."`
	OnInvalid      string           `yaml:"on_invalid" default:"fail" oneof:"fail|skip" doc:"With format json: what an invalid line (or an invalid timestamp_field) does. fail stops the source with an error naming the file and line; skip logs a warning and counts it."`
	KeyField       string           `yaml:"key_field" doc:"With format json: a top-level field whose value becomes the record key (a string's text, or the JSON text of any other value). Records without it have no key."`
	TimestampField string           `yaml:"timestamp_field" doc:"With format json: a top-level field holding the event time, as an RFC 3339 string or a number of milliseconds since the Unix epoch. Without the field (or when it is null) the file's modification time is used."`
	FileHeader     bool             `yaml:"file_header" default:"true" doc:"Add a header named \"file\" holding the file's absolute path to every record."`
	MaxLine        runtime.ByteSize `yaml:"max_line" default:"1MiB" doc:"Longest line accepted (formats lines and json), at most 64MiB; a longer line stops the source with an error naming the file and line."`
	MaxFileSize    runtime.ByteSize `yaml:"max_file_size" default:"64MiB" doc:"With format raw: largest file accepted (at most 256MiB); a larger file stops the source with an error naming it."`
}

// Validate reports every problem of the config.
func (c *SourceConfig) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) { errs = append(errs, runtime.FieldErr(field, format, args...)) }
	switch {
	case c.Path == "" && c.Dir == "":
		add("path", "give path (a file) or dir (a directory)")
	case c.Path != "" && c.Dir != "":
		add("dir", "give path or dir, not both")
	}
	if _, err := filepath.Match(c.Pattern, ""); err != nil || c.Pattern == "" || strings.ContainsRune(c.Pattern, '/') {
		add("pattern", "%q is not a glob for file names (examples: *, *.jsonl, events-*.txt)", c.Pattern)
	}
	if c.Path != "" && c.Pattern != "*" {
		add("pattern", "applies only with dir")
	}
	if c.PollInterval <= 0 {
		add("poll_interval", "must be positive")
	}
	if c.Format != "json" {
		if c.KeyField != "" {
			add("key_field", "applies only with format json")
		}
		if c.TimestampField != "" {
			add("timestamp_field", "applies only with format json")
		}
		if c.OnInvalid == "skip" {
			add("on_invalid", "applies only with format json")
		}
	}
	if c.MaxLine < 1 {
		add("max_line", "must be at least 1 byte")
	} else if c.MaxLine > lines.MaxLineLimit {
		add("max_line", "%s is more than the limit of %s (a line is held in memory whole)", c.MaxLine, runtime.ByteSize(lines.MaxLineLimit))
	}
	if c.MaxFileSize < 1 {
		add("max_file_size", "must be at least 1 byte")
	} else if c.MaxFileSize > MaxFileSizeLimit {
		add("max_file_size", "%s is more than the limit of %s (a raw file is read into memory whole)", c.MaxFileSize, runtime.ByteSize(MaxFileSizeLimit))
	}
	return errors.Join(errs...)
}

// MaxFileSizeLimit is the largest max_file_size the source accepts: with
// format raw a file becomes one record, held in memory whole.
const MaxFileSizeLimit = 256 << 20

// SinkConfig configures the file sink.
type SinkConfig struct {
	Path    string           `yaml:"path" required:"true" path:"any" doc:"Directory the files are written to; created if missing. Several sinks may share it: in-progress files are marked with the pipeline and the sink's place in it, and on open a sink finalises only its own (left by a crash)."`
	Prefix  string           `yaml:"prefix" default:"part" doc:"Start of file names. Files are named <prefix>-<UTC time>-<sequence><suffix>, such as part-20240501T120000.123Z-000000.jsonl, so they sort in the order they were written."`
	Suffix  string           `yaml:"suffix" doc:"End of file names, such as .txt or .jsonl."`
	Format  string           `yaml:"format" default:"text" oneof:"text|json" doc:"Line format: text writes each value followed by a newline; json writes one JSON object per record with key, value, timestamp, headers and output (key and value as key_base64/value_base64 when not UTF-8)."`
	MaxSize runtime.ByteSize `yaml:"max_size" default:"128MiB" doc:"Roll to a new file before one would grow past this size. A record larger than max_size gets a file of its own."`
	MaxAge  time.Duration    `yaml:"max_age" default:"0s" doc:"Roll a file this long after it was created, even if it is not full; 0 rolls only by size (and on close)."`
}

// Validate reports every problem of the config.
func (c *SinkConfig) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) { errs = append(errs, runtime.FieldErr(field, format, args...)) }
	if c.Path == "" {
		add("path", "required: the directory to write to")
	}
	if c.Prefix == "" || strings.ContainsAny(c.Prefix, `/\`) || strings.HasPrefix(c.Prefix, ".") || strings.HasPrefix(c.Prefix, "_") {
		add("prefix", "%q must be a non-empty file name start without / and not starting with '.' or '_' (those names are hidden)", c.Prefix)
	}
	if strings.ContainsAny(c.Suffix, `/\`) || strings.HasSuffix(c.Suffix, inProgressExt) {
		add("suffix", "%q must not contain / or end with %s", c.Suffix, inProgressExt)
	}
	if _, err := lines.ParseFormat(c.Format); err != nil {
		add("format", "%v", err)
	}
	if c.MaxSize < 1 {
		add("max_size", "must be at least 1 byte")
	}
	return errors.Join(errs...)
}
