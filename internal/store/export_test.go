package store

// Prepared counts the statements st keeps prepared.
func Prepared(st Store) int {
	var s *sqlStore
	switch v := st.(type) {
	case *sqlStore:
		s = v
	case readOnlyStore:
		s = v.sqlStore
	default:
		return -1
	}
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	return len(s.stmts.m)
}
