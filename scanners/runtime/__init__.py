"""The runtime stage: the change's install, test and build commands run in a throwaway bubblewrap sandbox."""
