"""The pages' shared templates (base, sign-in, 403); a package so that installs carry them."""
