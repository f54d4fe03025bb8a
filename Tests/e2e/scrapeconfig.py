"""The scrape jobs Exporters/prometheus/prometheus.yml shows commented out,
for brokers whose metrics listener has TLS, a token or basic auth: tests
uncomment them as a user would, so the shipped text is what gets checked."""
import pathlib

from conftest import REPO

SCRAPE_CONFIG = REPO / "Exporters" / "prometheus" / "prometheus.yml"


def commented_jobs(path: pathlib.Path = SCRAPE_CONFIG) -> dict[str, str]:
    """Each commented job (`  #- job_name:` and the `  #  ` lines after it),
    uncommented, keyed by what tells it apart: "bearer" or "basic"."""
    jobs, current = [], None
    for line in path.read_text().splitlines():
        if line.startswith("  #- job_name:"):
            current = [line]
            jobs.append(current)
        elif current is not None and line.startswith("  #  "):
            current.append(line)
        else:
            current = None
    texts = ["\n".join(line.replace("#", "", 1) for line in job) + "\n" for job in jobs]
    keyed = {}
    for text in texts:
        key = "bearer" if "authorization:" in text else "basic" if "basic_auth:" in text else None
        assert key and key not in keyed, f"unexpected commented job in {path}:\n{text}"
        keyed[key] = text
    assert set(keyed) == {"bearer", "basic"}, f"{path} should show a TLS + token job and a basic auth job"
    return keyed


def with_target(job: str, target: str, scrape_interval: str | None = None) -> str:
    """The job scraping `target` instead of its example host."""
    lines = job.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip() == "- targets:")
    lines[at + 1] = f"{lines[at + 1][:lines[at + 1].index('-')]}- {target}"
    if scrape_interval:
        lines.insert(1, f"    scrape_interval: {scrape_interval}")
    return "\n".join(lines) + "\n"
