"""ORM tables, one module per aggregate; importing this package registers them all for Alembic."""

from app.models.api_key import PersonalAPIKey
from app.models.dataset import Dataset, DatasetItem, DatasetItemCount
from app.models.evaluation import Evaluation, EvaluationRun
from app.models.experiment import Experiment, ExperimentCall, ExperimentChunk, ExperimentResult
from app.models.provider_key import EvaluationConfig, LLMProviderKey
from app.models.summary import RateLimitCounter, SummaryCacheEntry, SummaryLease
from app.models.tenancy import Organization, OrganizationMembership, Team, User

__all__ = [
    "Dataset",
    "DatasetItem",
    "DatasetItemCount",
    "Evaluation",
    "EvaluationConfig",
    "EvaluationRun",
    "Experiment",
    "ExperimentCall",
    "ExperimentChunk",
    "ExperimentResult",
    "LLMProviderKey",
    "Organization",
    "OrganizationMembership",
    "PersonalAPIKey",
    "RateLimitCounter",
    "SummaryCacheEntry",
    "SummaryLease",
    "Team",
    "User",
]
