"""One router per resource; prefixes and tags are set where the app includes them."""
