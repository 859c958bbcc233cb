package config

// Key describes one property of the plugin: what Fluent Bit's config map
// registers (so that it rejects unknown keys and documents the plugin with
// -h), what the README's table says, and the default Parse uses.
type Key struct {
	Name string
	// Type is one of str, int, bool, size, time, clist (Fluent Bit's config
	// map types; Fluent Bit only prints them, Parse checks values).
	Type string
	// Default is the value Parse reads when the key is unset, written as a
	// user would; "" when it depends on something else (the description
	// says what).
	Default     string
	Description string
}

// Key types.
const (
	TypeStr   = "str"
	TypeInt   = "int"
	TypeBool  = "bool"
	TypeSize  = "size"
	TypeTime  = "time"
	TypeCList = "clist"
)

var keys = []Key{
	{"docker_host", TypeStr, "", "Docker daemon: unix:///path or tcp://host:port (default $DOCKER_HOST, else unix:///var/run/docker.sock)"},
	{"docker_tls_ca", TypeStr, "", "CA file to verify the daemon's certificate (tcp://; default $DOCKER_CERT_PATH/ca.pem)"},
	{"docker_tls_cert", TypeStr, "", "client certificate file for tcp://, with docker_tls_key (default $DOCKER_CERT_PATH/cert.pem)"},
	{"docker_tls_key", TypeStr, "", "client key file for tcp://, with docker_tls_cert (default $DOCKER_CERT_PATH/key.pem)"},
	{"docker_tls_verify", TypeBool, "", "verify the daemon's certificate (default on with docker_tls_ca, or as $DOCKER_TLS_VERIFY)"},
	{"instance_name", TypeStr, "", "the input label of this instance's metrics (default docker_logs.N, N in init order)"},
	{"resync_interval", TypeTime, "30s", "list containers again this often (Go duration or whole seconds)"},
	{"rotate_interval", TypeTime, "5m", "close and reopen every stream from its position this often (at least 100ms)"},
	{"include_names", TypeCList, "", "globs on container names (without the leading slash) to read"},
	{"exclude_names", TypeCList, "", "globs on container names (without the leading slash) to skip"},
	{"include_images", TypeCList, "", "globs on images to read (* crosses /)"},
	{"exclude_images", TypeCList, "", "globs on images to skip (* crosses /)"},
	{"include_labels", TypeCList, "", "labels (key or key=value) of containers to read"},
	{"exclude_labels", TypeCList, "", "labels (key or key=value) of containers to skip"},
	{"streams", TypeCList, "stdout,stderr", "streams to deliver: stdout and/or stderr (a TTY's output counts as stdout)"},
	{"exclude_self", TypeBool, "on", "skip the container Fluent Bit runs in"},
	{"read_from_head", TypeBool, "off", "read containers running at start from their first line"},
	{"label_keys", TypeCList, "", "labels to add to records as labels; * adds all"},
	{"details", TypeBool, "off", "add the attributes the daemon attaches to each line (--log-opt labels=, env=, env-regex=) as attrs"},
	{"compose_swarm_fields", TypeBool, "on", "add compose_* and swarm_* fields from the labels Compose and Swarm set"},
	{"host_name", TypeStr, "", "the host field of every record (default the daemon's name, from its /info)"},
	{"source", TypeStr, "auto", "where lines are read: auto (a json-file container's log file when the daemon is local and the file can be read, else the API), api, or file (log files only)"},
	{"max_line_size", TypeSize, "1M", "longer lines are cut here and marked log_truncated"},
	{"buffer_max_size", TypeSize, "12M", "records waiting for the next collect; streams stop reading when full"},
	{"db", TypeStr, "", "checkpoint file of positions, to resume after a restart"},
	{"db.flush_interval", TypeTime, "5s", "how often the checkpoint is written"},
	{"metrics_listen", TypeStr, "127.0.0.1:2021", "address of /metrics and /healthz; off disables it"},
	{"metrics_container_labels", TypeBool, "on", "label per-container series with container_name"},
}

// Keys returns every property the plugin reads, in the order -h lists them.
func Keys() []Key { return append([]Key(nil), keys...) }

// listedDefault is the Default of the key named name.
func listedDefault(name string) string {
	for _, k := range keys {
		if k.Name == name {
			return k.Default
		}
	}
	panic("config: no key " + name)
}
