package sphinx

import "errors"

// ErrModel means the speech recognizer's model could not be loaded.
var ErrModel = errors.New("cannot load speech model")
