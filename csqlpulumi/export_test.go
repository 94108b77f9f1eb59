package csqlpulumi

// ConvertTo lets the external tests convert a struct that stands for a
// k8s.io/api newer than this module's.
func ConvertTo[A any](root string, src any) (A, error) { return convertTo[A](root, src) }
