// Command reachable calls golang.org/x/text/language.Parse from x/text
// v0.3.6, which GO-2021-0113 (fixed in v0.3.7) names: vuln/vulncheck.sh
// scans it first and must see that finding as reachable, or the scan
// itself is broken.
package main

import (
	"fmt"
	"os"

	"golang.org/x/text/language"
)

func main() {
	tag, err := language.Parse(os.Args[len(os.Args)-1])
	fmt.Println(tag, err)
}
