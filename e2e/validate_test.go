package e2e

import (
	"testing"
)

func TestScratch(t *testing.T) {}
