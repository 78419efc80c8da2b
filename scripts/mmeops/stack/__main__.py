"""`python -m mmeops.stack --repo ROOT --state FILE`: run an embedded stack until SIGTERM
(what `mmeops stack up` starts in the background)."""

from mmeops.stack.embedded import main

main()
