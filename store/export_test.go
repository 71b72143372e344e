package store

// Rebind is rebind, for tests that query PostgreSQL directly.
var Rebind = rebind
