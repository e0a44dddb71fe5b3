"""The stylesheet and script the services serve under /static; a package so that installs carry them."""
