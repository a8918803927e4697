-- Migration 010: plans, subscriptions, invoices and app configuration

CREATE TABLE IF NOT EXISTS nchat_plans (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    price_cents INTEGER NOT NULL DEFAULT 0 CHECK (price_cents >= 0),
    billing_interval TEXT NOT NULL DEFAULT 'month',
    limits JSONB NOT NULL DEFAULT '{}',
    is_active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    CONSTRAINT nchat_plans_interval CHECK (billing_interval IN ('month', 'year'))
);

CREATE TABLE IF NOT EXISTS nchat_subscriptions (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id UUID NOT NULL REFERENCES nchat_workspaces(id) ON DELETE CASCADE,
    plan_id UUID NOT NULL REFERENCES nchat_plans(id),
    status TEXT NOT NULL DEFAULT 'active',
    current_period_start TIMESTAMP WITH TIME ZONE NOT NULL,
    current_period_end TIMESTAMP WITH TIME ZONE NOT NULL,
    cancel_at TIMESTAMP WITH TIME ZONE,
    external_id TEXT UNIQUE,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    CONSTRAINT nchat_subscriptions_status
        CHECK (status IN ('trialing', 'active', 'past_due', 'canceled'))
);

CREATE INDEX IF NOT EXISTS idx_nchat_subscriptions_workspace ON nchat_subscriptions(workspace_id);

CREATE TABLE IF NOT EXISTS nchat_invoices (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    subscription_id UUID NOT NULL REFERENCES nchat_subscriptions(id) ON DELETE CASCADE,
    amount_cents INTEGER NOT NULL,
    currency TEXT NOT NULL DEFAULT 'usd',
    status TEXT NOT NULL DEFAULT 'open',
    issued_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
    paid_at TIMESTAMP WITH TIME ZONE,
    pdf_url TEXT,
    CONSTRAINT nchat_invoices_status CHECK (status IN ('draft', 'open', 'paid', 'void'))
);

CREATE INDEX IF NOT EXISTS idx_nchat_invoices_subscription ON nchat_invoices(subscription_id);

CREATE TABLE IF NOT EXISTS nchat_app_configuration (
    key TEXT PRIMARY KEY,
    value JSONB NOT NULL,
    description TEXT,
    updated_by UUID REFERENCES nchat_users(id) ON DELETE SET NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW()
);
