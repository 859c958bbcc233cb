package capture

// SaveCheckpoint writes the delivered positions to the db, if one is set
// and they changed. Stop saves too, but a stopped engine may still hand its
// buffered records over: call this after the instance's last Collect, so
// a restart does not deliver them again.
func (e *Engine) SaveCheckpoint() {
	if e.db != nil {
		e.saveCheckpoint()
	}
}
