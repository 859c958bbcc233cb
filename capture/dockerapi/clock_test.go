package dockerapi

import (
	"testing"
	"time"
)

func TestClockSkew(t *testing.T) {
	sent := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		rtt        time.Duration
		systemTime string
		want       time.Duration
		wantErr    bool
	}{
		{"same clock", 20 * time.Millisecond, "2026-11-27T12:00:00.010000000Z", 0, false},
		{"a measurement's error on the same clock", 2 * time.Millisecond, "2026-11-27T12:00:00.000050Z", 0, false},
		{"daemon 10 s behind", 0, "2026-11-27T11:59:50Z", 10 * time.Second, false},
		{"daemon 2.5 s ahead", 2 * time.Millisecond, "2026-11-27T12:00:02.501Z", -2500 * time.Millisecond, false},
		{"daemon 150 ms behind", 10 * time.Millisecond, "2026-11-27T11:59:59.855Z", 150 * time.Millisecond, false},
		{"under 100 ms: taken to agree", 0, "2026-11-27T11:59:59.950Z", 0, false},
		{"no larger than the round trip: not trusted", 3 * time.Second, "2026-11-27T12:00:00.500Z", 0, false},
		{"another zone", 0, "2026-11-27T13:00:00+01:00", 0, false},
		{"not a time", 0, "yesterday", 0, true},
		{"empty (an old daemon)", 0, "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clockSkew(sent, sent.Add(tt.rtt), tt.systemTime)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("skew %v, want %v", got, tt.want)
			}
		})
	}
}
