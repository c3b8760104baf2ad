package rotation

// HostIdentity is how a lock holder names this host, for tests that plant
// another process's lease.
var HostIdentity = hostIdentity
