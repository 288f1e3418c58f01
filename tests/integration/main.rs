mod netns;
