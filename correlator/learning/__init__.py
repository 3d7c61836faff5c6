"""What the engine learns of the estate from its own stream: entities and topology from labels,
alert-name co-occurrence against chance, storms, and the joining stage that uses them."""
