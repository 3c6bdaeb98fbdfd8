"""Task heads on the shared recurrent core. Importing a head module registers its models."""
