"""runner: the app's training runner. A TrainingJob (job) trains off the page's thread, in a
child process at a lower CPU priority (worker), which also draws the Train page's live pictures
(live_figures). No Streamlit here: pages poll a job's progress.
"""
