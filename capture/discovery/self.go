package discovery

import (
	"bufio"
	"bytes"
	"os"
	"regexp"
)

var containerIDPattern = regexp.MustCompile(`(?:/containers/|/docker/|docker-)([0-9a-f]{64})(?:[/.]|$)`)

// ownContainerID finds the ID of the container this process runs in, or ""
// outside one.
func ownContainerID() string {
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		if id := containerIDFromMountinfo(b); id != "" {
			return id
		}
	}
	if b, err := os.ReadFile("/proc/self/cgroup"); err == nil {
		return containerIDFromCgroup(b)
	}
	return ""
}

// containerIDFromMountinfo reads the source of the /etc/hostname mount, which
// the daemon bind-mounts from its containers/<id>/ folder. Only that mount
// point counts: the host's own table lists other containers' mounts too.
func containerIDFromMountinfo(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) > 4 && string(f[4]) == "/etc/hostname" {
			if m := containerIDPattern.FindSubmatch(f[3]); m != nil {
				return string(m[1])
			}
		}
	}
	return ""
}

// containerIDFromCgroup reads cgroup v1 paths such as /docker/<id>.
func containerIDFromCgroup(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if m := containerIDPattern.FindSubmatch(sc.Bytes()); m != nil {
			return string(m[1])
		}
	}
	return ""
}
