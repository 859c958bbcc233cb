package discovery

import (
	"strings"
	"testing"
)

func TestContainerIDFromProc(t *testing.T) {
	id := strings.Repeat("3f", 32)
	other := strings.Repeat("a1", 32)
	tests := []struct {
		name      string
		mountinfo string
		cgroup    string
		want      string
	}{
		{
			name: "inside a container (cgroup v2: only mountinfo tells)",
			mountinfo: "612 600 0:50 / / rw - overlay overlay rw\n" +
				"620 612 254:1 /var/lib/docker/containers/" + id + "/hostname /etc/hostname rw - ext4 /dev/vda1 rw\n",
			cgroup: "0::/\n",
			want:   id,
		},
		{
			name: "on the host: other containers' mounts do not count",
			mountinfo: "22 1 254:1 / / rw - ext4 /dev/vda1 rw\n" +
				"700 22 254:1 /var/lib/docker/containers/" + other + "/hostname /mnt/x rw - ext4 /dev/vda1 rw\n",
			cgroup: "0::/user.slice\n",
			want:   "",
		},
		{
			name:      "cgroup v1",
			mountinfo: "22 1 254:1 / / rw - ext4 /dev/vda1 rw\n",
			cgroup:    "12:memory:/docker/" + id + "\n1:name=systemd:/docker/" + id + "\n",
			want:      id,
		},
		{
			name:      "systemd cgroup driver",
			mountinfo: "",
			cgroup:    "0::/system.slice/docker-" + id + ".scope\n",
			want:      id,
		},
		{
			name:      "an ID that is too short is none",
			mountinfo: "620 612 254:1 /var/lib/docker/containers/abc/hostname /etc/hostname rw - ext4 /dev/vda1 rw\n",
			cgroup:    "12:memory:/docker/abc\n",
			want:      "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := containerIDFromMountinfo([]byte(tt.mountinfo))
			if got == "" {
				got = containerIDFromCgroup([]byte(tt.cgroup))
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// The parsers read files the kernel writes, but inside any container: they
// must never panic, and an ID they return is always 64 hex characters.
func FuzzContainerIDFromProc(f *testing.F) {
	f.Add([]byte("620 612 254:1 /var/lib/docker/containers/" + strings.Repeat("3f", 32) + "/hostname /etc/hostname rw\n"))
	f.Add([]byte("0::/system.slice/docker-" + strings.Repeat("ab", 32) + ".scope\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, id := range []string{containerIDFromMountinfo(b), containerIDFromCgroup(b)} {
			if id != "" && (len(id) != 64 || strings.Trim(id, "0123456789abcdef") != "") {
				t.Fatalf("returned %q", id)
			}
		}
	})
}
