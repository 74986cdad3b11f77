"""The paper's listening study: study files, balanced assignment, the rating web app,
the ratings database, and the analysis (wins, Wilcoxon with Bonferroni, Figs. 7-8)."""
