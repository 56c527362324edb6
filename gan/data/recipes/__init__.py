"""`gan data RECIPE`: image folders built offline from Debian packages (clip art, letters), each with a manifest."""
