package sphinx

// SalesCorpus and WriteARPA let the tests check the domain language model.
var (
	SalesCorpus = salesSentences
	WriteARPA   = writeARPA
)
